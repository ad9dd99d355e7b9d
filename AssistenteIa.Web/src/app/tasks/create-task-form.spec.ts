import { TestBed } from '@angular/core/testing';
import { Router } from '@angular/router';
import { aTask, json } from '../../testing/fakes';
import { FETCH } from '../api/api-client';
import type { Task } from '../api/api-types';
import { AuthService } from '../auth/auth.service';
import { CreateTaskForm } from './create-task-form';

describe('CreateTaskForm', () => {
  let fetchMock: ReturnType<typeof vi.fn>;

  beforeEach(() => {
    fetchMock = vi.fn();
    TestBed.configureTestingModule({
      imports: [CreateTaskForm],
      providers: [{ provide: FETCH, useValue: fetchMock }, { provide: Router, useValue: { navigate: vi.fn() } }],
    });
    TestBed.inject(AuthService).signIn('k');
  });

  function fill(element: HTMLElement, selector: string, value: string): void {
    const input = element.querySelector(selector) as HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement;
    input.value = value;
    input.dispatchEvent(new Event(input instanceof HTMLSelectElement ? 'change' : 'input'));
  }

  it('posts the task with its simulation settings and emits the created task', async () => {
    fetchMock.mockResolvedValue(json(aTask(), 202));
    const fixture = TestBed.createComponent(CreateTaskForm);
    const created: Task[] = [];
    fixture.componentInstance.created.subscribe(task => created.push(task));
    await fixture.whenStable();
    const element = fixture.nativeElement as HTMLElement;

    fill(element, '#capability', 'LLM_Reasoning');
    fill(element, '#prompt', 'Why is the sky blue?');
    fill(element, '#latencyMs', '1500');
    fill(element, '#idempotencyKey', 'k-1');
    await fixture.componentInstance.submit();

    const request = fetchMock.mock.calls[0][0] as Request;
    const body = await request.json();
    expect(body.type.capability).toBe('LLM_Reasoning');
    expect(body.payload.prompt).toBe('Why is the sky blue?');
    expect(body.payload.simulation).toEqual({ latencyMs: 1500, failAttempts: 0, failure: 'Transient' });
    expect(request.headers.get('Idempotency-Key')).toBe('k-1');
    expect(created).toHaveLength(1);
  });

  it('shows the API validation messages next to the fields they name', async () => {
    fetchMock.mockResolvedValue(json({
      title: 'One or more validation errors occurred.', status: 400, detail: 'The request is not valid; see errors for each field.',
      errors: { 'payload.prompt': ['The prompt is required.'], maxAttempts: ['maxAttempts must be 1 to 10.'] },
    }, 400));
    const fixture = TestBed.createComponent(CreateTaskForm);
    await fixture.whenStable();
    const element = fixture.nativeElement as HTMLElement;

    await fixture.componentInstance.submit();
    await fixture.whenStable();

    expect(element.querySelector('#promptError')?.textContent).toContain('The prompt is required.');
    expect(element.querySelector('#maxAttemptsError')?.textContent).toContain('maxAttempts must be 1 to 10.');
    expect(element.querySelector('.form-error')?.textContent).toContain('see errors for each field');
  });
});
