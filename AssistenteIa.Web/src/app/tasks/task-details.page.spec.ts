import { TestBed } from '@angular/core/testing';
import { provideRouter } from '@angular/router';
import { aTask, anEvent, until } from '../../testing/fakes';
import { ApiClient, ApiError } from '../api/api-client';
import type { TaskAttempt } from '../api/api-types';
import { TaskEventsService, type TaskStreamItem } from '../events/task-events.service';
import { TaskDetailsPage } from './task-details.page';

describe('TaskDetailsPage', () => {
  const task = aTask({ status: 'Running', attemptCount: 1, payload: { prompt: 'Explain' } });
  const attempt: TaskAttempt = {
    attemptNo: 1, status: 'Failed', startedAt: task.createdAt, endedAt: task.updatedAt, model: 'local-echo', tokensIn: 12,
    tokensOut: 0, cost: 0, latencyMs: 40, errorCode: 'Transient', errorDetail: 'Simulated', nextAttemptAt: '2026-11-25T10:00:05Z',
  } as TaskAttempt;
  let push: (item: TaskStreamItem) => void;
  let opened: number;
  let api: { getTask: ReturnType<typeof vi.fn>; attempts: ReturnType<typeof vi.fn>; artifacts: ReturnType<typeof vi.fn>; cancelTask: ReturnType<typeof vi.fn> };

  beforeEach(() => {
    opened = 0;
    api = {
      getTask: vi.fn().mockResolvedValue(task),
      attempts: vi.fn().mockResolvedValue([attempt]),
      artifacts: vi.fn().mockResolvedValue([
        { id: 'a1', kind: 'Text', content: 'See https://example.org/report for details', uri: null, createdAt: task.updatedAt },
        { id: 'a2', kind: 'Link', content: null, uri: 'javascript:alert(1)', createdAt: task.updatedAt },
      ]),
      cancelTask: vi.fn().mockResolvedValue(false),
    };
    TestBed.configureTestingModule({
      imports: [TaskDetailsPage],
      providers: [
        provideRouter([]),
        { provide: ApiClient, useValue: api },
        { provide: TaskEventsService, useValue: { task: (_id: string, onItem: (item: TaskStreamItem) => void) => { opened++; push = onItem; return { close: vi.fn() }; } } },
      ],
    });
  });

  async function render() {
    const fixture = TestBed.createComponent(TaskDetailsPage);
    fixture.componentRef.setInput('id', task.id);
    fixture.autoDetectChanges();
    const element = fixture.nativeElement as HTMLElement;
    await until(() => !!element.querySelector('table.attempts'));
    return { fixture, element };
  }

  it('shows the attempts with model, tokens, error and next retry, and the payload', async () => {
    const { element } = await render();

    const row = element.querySelector('table.attempts tbody tr')!.textContent!;
    expect(row).toContain('local-echo');
    expect(row).toContain('12');
    expect(row).toContain('Simulated');
    expect(element.querySelector('pre.payload')?.textContent).toContain('"prompt": "Explain"');
  });

  it('makes links of http(s) addresses in text and never of a javascript: URI', async () => {
    const { element } = await render();

    const links = [...element.querySelectorAll('ul.artifacts a')].map(a => a.getAttribute('href'));
    expect(links).toEqual(['https://example.org/report']);
    expect(element.querySelector('ul.artifacts')?.textContent).toContain('javascript:alert(1)');
  });

  it('builds the timeline from events and hides Cancel once the task is cancelled', async () => {
    const { fixture, element } = await render();
    expect(element.querySelector('button.danger')?.textContent).toContain('Cancel task');

    push({ kind: 'event', event: anEvent('started', 4, task) });
    push({ kind: 'event', event: anEvent('cancelled', 5, { ...task, status: 'Cancelled', updatedAt: '2026-11-25T10:00:09Z' }) });
    push({ kind: 'event', event: anEvent('cancelled', 5, { ...task, status: 'Cancelled', updatedAt: '2026-11-25T10:00:09Z' }) });
    await fixture.whenStable();

    const entries = [...element.querySelectorAll('[data-testid=timeline] li')].map(li => li.querySelector('.event-name')?.textContent);
    expect(entries).toEqual(['started', 'cancelled']);
    expect(element.querySelector('.page-head [data-testid=status]')?.textContent).toBe('Cancelled');
    expect(element.querySelector('button.danger')).toBeNull();
  });

  it('keeps the cancelled state its stream showed when the read that followed the cancel answers with an older one', async () => {
    const { fixture, element } = await render();
    let answer!: (value: unknown) => void;
    api.getTask.mockImplementation(() => new Promise(resolve => { answer = resolve; }));

    const cancelling = (fixture.componentInstance as unknown as { cancel(): Promise<void> }).cancel();
    await until(() => answer !== undefined);
    push({ kind: 'event', event: anEvent('cancelled', 5, { ...task, status: 'Cancelled', updatedAt: '2026-11-25T10:00:09Z' }) });
    answer(task);
    await cancelling;
    await fixture.whenStable();

    expect(element.querySelector('.page-head [data-testid=status]')?.textContent).toBe('Cancelled');
  });

  it('says so when the task is not the tenant\'s', async () => {
    api.getTask.mockRejectedValue(new ApiError(404, { title: 'Not Found', status: 404 }));
    const fixture = TestBed.createComponent(TaskDetailsPage);
    fixture.componentRef.setInput('id', task.id);
    fixture.autoDetectChanges();
    const element = fixture.nativeElement as HTMLElement;

    await until(() => element.textContent!.includes('Task not found'));
  });

  it('opens no stream when it is left before its data arrived', async () => {
    let answer!: (value: unknown) => void;
    api.getTask.mockImplementation(() => new Promise(resolve => { answer = resolve; }));
    const fixture = TestBed.createComponent(TaskDetailsPage);
    fixture.componentRef.setInput('id', task.id);
    fixture.autoDetectChanges();
    await until(() => answer !== undefined);

    fixture.destroy();
    answer(task);
    await new Promise(resolve => setTimeout(resolve, 20));

    expect(opened).toBe(0);
  });
});
