import { TestBed } from '@angular/core/testing';
import { provideRouter } from '@angular/router';
import { aTask, anEvent, until } from '../../testing/fakes';
import { ApiClient, type TaskPage } from '../api/api-client';
import { TaskEventsService, type TaskStreamItem } from '../events/task-events.service';
import { TasksPage } from './tasks.page';

describe('TasksPage', () => {
  let push: (item: TaskStreamItem) => void;
  let listTasks: ReturnType<typeof vi.fn>;
  let closed: ReturnType<typeof vi.fn>;

  beforeEach(() => {
    closed = vi.fn();
    listTasks = vi.fn<() => Promise<TaskPage>>().mockResolvedValue({ items: [aTask()], total: 1, capped: false });
    TestBed.configureTestingModule({
      imports: [TasksPage],
      providers: [
        provideRouter([]),
        { provide: ApiClient, useValue: { listTasks } },
        {
          provide: TaskEventsService,
          useValue: {
            state: () => 'open',
            tenant: (onItem: (item: TaskStreamItem) => void) => {
              push = onItem;
              return { close: closed };
            },
          },
        },
      ],
    });
  });

  async function render() {
    const fixture = TestBed.createComponent(TasksPage);
    fixture.autoDetectChanges();
    const element = fixture.nativeElement as HTMLElement;
    await until(() => element.querySelectorAll('tbody tr').length > 0);
    return { fixture, element };
  }

  it('lists the tasks newest first with their status and the total', async () => {
    const { element } = await render();

    expect(element.querySelector('tbody tr [data-testid=status]')?.textContent).toBe('Queued');
    expect(element.querySelector('[data-testid=total]')?.textContent).toContain('1 task');
    expect(listTasks).toHaveBeenCalledWith({ page: 1, pageSize: 20 });
  });

  it('changes a row when an event arrives, without reloading', async () => {
    const { fixture, element } = await render();

    push({ kind: 'event', event: anEvent('succeeded', 5, aTask({ status: 'Succeeded', updatedAt: '2026-11-25T10:00:03Z' })) });
    await fixture.whenStable();

    expect(element.querySelector('tbody tr [data-testid=status]')?.textContent).toBe('Succeeded');
    expect(listTasks).toHaveBeenCalledTimes(1);
  });

  it('adds a task created elsewhere at the top', async () => {
    const { fixture, element } = await render();
    const created = aTask({ id: '0193a5b2-0000-7000-8000-00000000000a', createdAt: '2026-11-25T11:00:00Z' });

    push({ kind: 'event', event: anEvent('created', 1, created) });
    await fixture.whenStable();

    const rows = element.querySelectorAll('tbody tr');
    expect(rows).toHaveLength(2);
    expect(rows[0].getAttribute('data-task-id')).toBe(created.id);
  });

  it('reloads the page when the stream asks for a resync', async () => {
    const { fixture } = await render();

    push({ kind: 'resync' });
    await fixture.whenStable();

    expect(listTasks).toHaveBeenCalledTimes(2);
  });

  it('closes its stream when it is left', async () => {
    const { fixture } = await render();
    expect(closed).not.toHaveBeenCalled();

    fixture.destroy();

    expect(closed).toHaveBeenCalledTimes(1);
  });

  it('reads the page again when the stream connects without a position to resume from, not when it resumes', async () => {
    const { fixture } = await render();

    push({ kind: 'open', resumed: true });
    await fixture.whenStable();
    expect(listTasks).toHaveBeenCalledTimes(1);

    push({ kind: 'open', resumed: false });
    await fixture.whenStable();
    expect(listTasks).toHaveBeenCalledTimes(2);
  });

  it('applies events that arrive while the page loads once it is in', async () => {
    let answer!: (page: TaskPage) => void;
    listTasks.mockImplementation(() => new Promise<TaskPage>(resolve => { answer = resolve; }));
    const fixture = TestBed.createComponent(TasksPage);
    fixture.autoDetectChanges();
    const element = fixture.nativeElement as HTMLElement;
    await until(() => answer !== undefined);

    push({ kind: 'event', event: anEvent('succeeded', 5, aTask({ status: 'Succeeded', updatedAt: '2026-11-25T10:00:03Z' })) });
    answer({ items: [aTask()], total: 1, capped: false });
    await until(() => element.querySelectorAll('tbody tr').length > 0);

    expect(element.querySelector('tbody tr [data-testid=status]')?.textContent).toBe('Succeeded');
  });
});
