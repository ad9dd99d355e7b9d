import { TestBed } from '@angular/core/testing';
import { Router } from '@angular/router';
import { aTask, json } from '../../testing/fakes';
import { AuthService } from '../auth/auth.service';
import { ApiClient, ApiError, FETCH } from './api-client';

describe('ApiClient', () => {
  let fetchMock: ReturnType<typeof vi.fn>;
  let navigate: ReturnType<typeof vi.fn>;

  beforeEach(() => {
    sessionStorage.clear();
    fetchMock = vi.fn();
    navigate = vi.fn().mockResolvedValue(true);
    TestBed.configureTestingModule({
      providers: [{ provide: FETCH, useValue: fetchMock }, { provide: Router, useValue: { navigate, url: '/tasks/42' } }],
    });
    TestBed.inject(AuthService).signIn('key-of-tenant');
  });

  const request = (call = 0): Request => fetchMock.mock.calls[call][0] as Request;

  it('sends the API key and the filters, and reads the total from X-Total-Count', async () => {
    fetchMock.mockResolvedValue(json([aTask()], 200, { 'X-Total-Count': '42', 'X-Total-Count-Capped': 'false' }));

    const page = await TestBed.inject(ApiClient).listTasks({ status: 'Running', page: 2, pageSize: 10 });

    expect(request().headers.get('X-Api-Key')).toBe('key-of-tenant');
    const url = new URL(request().url);
    expect(url.pathname).toBe('/api/v1/tasks');
    expect(url.searchParams.get('status')).toBe('Running');
    expect(url.searchParams.get('page')).toBe('2');
    expect(page.total).toBe(42);
    expect(page.capped).toBe(false);
    expect(page.items).toHaveLength(1);
  });

  it('sends the idempotency key as a header when given', async () => {
    fetchMock.mockResolvedValue(json(aTask(), 202));

    await TestBed.inject(ApiClient).createTask({
      type: { domain: 'CustomerSupport', capability: 'LLM_Generation', execution: 'Async' },
      payload: { prompt: 'hi' },
    }, 'order-7');

    expect(request().method).toBe('POST');
    expect(request().headers.get('Idempotency-Key')).toBe('order-7');
  });

  it('downloads a file with the API key in a header', async () => {
    fetchMock.mockResolvedValue(new Response(new Uint8Array([137, 80, 78, 71]), { status: 200, headers: { 'Content-Type': 'image/png' } }));

    const blob = await TestBed.inject(ApiClient).downloadFile('0196a4c2-5f1e-7c3a-9b2d-3e4f5a6b7c8d');

    expect(new URL(request().url).pathname).toBe('/api/v1/files/0196a4c2-5f1e-7c3a-9b2d-3e4f5a6b7c8d');
    expect(request().headers.get('X-Api-Key')).toBe('key-of-tenant');
    expect(blob.size).toBe(4);
    expect(blob.type).toBe('image/png');
  });

  it('turns a 401 into sign-out and the key screen', async () => {
    fetchMock.mockResolvedValue(json({ title: 'Unauthorized', status: 401 }, 401));

    await expect(TestBed.inject(ApiClient).getTask(aTask().id)).rejects.toBeInstanceOf(ApiError);

    expect(TestBed.inject(AuthService).signedIn()).toBe(false);
    expect(sessionStorage.getItem('assistenteia.apiKey')).toBeNull();
    expect(navigate).toHaveBeenCalledWith(['/sign-in'], { queryParams: { returnUrl: '/tasks/42' } });
  });

  it('keeps the problem of a 400 with its field errors in camelCase paths', async () => {
    fetchMock.mockResolvedValue(json({
      title: 'One or more validation errors occurred.', status: 400,
      errors: { 'payload.prompt': ['The prompt is required.'], 'MaxAttempts': ['Must be 1 to 10.'], '$.type.domain': ['Unknown value.'] },
    }, 400));

    const error: ApiError = await TestBed.inject(ApiClient).createTask({
      type: { domain: 'CustomerSupport', capability: 'LLM_Generation', execution: 'Async' },
      payload: { prompt: '' },
    }).then(() => { throw new Error('expected a 400'); }, (e: unknown) => e as ApiError);

    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(400);
    expect(error.fieldErrors()).toEqual({
      'payload.prompt': 'The prompt is required.',
      maxAttempts: 'Must be 1 to 10.',
      'type.domain': 'Unknown value.',
    });
  });

  it('tells a cancel done now (200) from one signalled to the worker (202)', async () => {
    fetchMock.mockResolvedValueOnce(json(aTask({ status: 'Cancelled' }), 200)).mockResolvedValueOnce(json(aTask(), 202));
    const api = TestBed.inject(ApiClient);

    expect(await api.cancelTask(aTask().id)).toBe(true);
    expect(await api.cancelTask(aTask().id)).toBe(false);
    expect(new URL(request().url).pathname).toBe(`/api/v1/tasks/${aTask().id}/cancel`);
  });
});
