import { aTask, anEvent } from '../../testing/fakes';
import { LiveTaskPage, filtersFromParams, filtersToParams, pageCount, toListQuery } from './task-filters';

describe('task filters', () => {
  it('reads known values from the URL and drops the rest', () => {
    const filters = filtersFromParams({ status: 'Running', domain: 'Nope', capability: 'Vision_OCR', page: '3', pageSize: '7' });

    expect(filters).toEqual({ status: 'Running', domain: undefined, capability: 'Vision_OCR', execution: undefined, page: 3, pageSize: 20 });
  });

  it('falls back to page 1 for a page that is not a positive number', () => {
    expect(filtersFromParams({ page: '-2' }).page).toBe(1);
    expect(filtersFromParams({ page: 'x' }).page).toBe(1);
  });

  it('leaves defaults out of the URL and the query', () => {
    const filters = filtersFromParams({ execution: 'Batch' });

    expect(filtersToParams(filters)).toEqual({ status: null, domain: null, capability: null, execution: 'Batch', page: null, pageSize: null });
    expect(toListQuery(filters)).toEqual({ page: 1, pageSize: 20, execution: 'Batch' });
  });

  it('counts at least one page', () => {
    expect(pageCount(0, 20)).toBe(1);
    expect(pageCount(41, 20)).toBe(3);
  });
});

describe('LiveTaskPage', () => {
  const page1 = filtersFromParams({});

  it('changes a row in place when its task moves on', () => {
    const task = aTask();
    const page = new LiveTaskPage([task], 1, page1);

    const changed = page.apply(anEvent('succeeded', 5, { ...task, status: 'Succeeded', updatedAt: '2026-11-25T10:00:02Z' }));

    expect(changed).toBe(true);
    expect(page.rows[0].status).toBe('Succeeded');
  });

  it('ignores a repeated or older event of a task', () => {
    const task = aTask();
    const page = new LiveTaskPage([task], 1, page1);
    page.apply(anEvent('succeeded', 5, { ...task, status: 'Succeeded', updatedAt: '2026-11-25T10:00:02Z' }));

    expect(page.apply(anEvent('started', 4, { ...task, status: 'Running', updatedAt: '2026-11-25T10:00:01Z' }))).toBe(false);
    expect(page.rows[0].status).toBe('Succeeded');
  });

  it('ignores an event older than the row it would replace', () => {
    const task = aTask({ status: 'Succeeded', updatedAt: '2026-11-25T10:00:05Z' });
    const page = new LiveTaskPage([task], 1, page1);

    expect(page.apply(anEvent('started', 3, { ...task, status: 'Running', updatedAt: '2026-11-25T10:00:01Z' }))).toBe(false);
  });

  it('puts a new task matching the filters at the top of page 1', () => {
    const page = new LiveTaskPage([aTask()], 1, filtersFromParams({ domain: 'CustomerSupport' }));
    const created = aTask({ id: '0193a5b2-0000-7000-8000-000000000002' });

    expect(page.apply(anEvent('created', 1, created))).toBe(true);
    expect(page.rows.map(r => r.id)).toEqual([created.id, aTask().id]);
    expect(page.total).toBe(2);
  });

  it('counts a new task on a later page without showing it, and ignores one outside the filters', () => {
    const created = aTask({ id: '0193a5b2-0000-7000-8000-000000000003' });
    const later = new LiveTaskPage([], 30, filtersFromParams({ page: '2' }));
    const other = new LiveTaskPage([], 0, filtersFromParams({ domain: 'DataAnalysis' }));

    later.apply(anEvent('created', 1, created));
    expect(later.rows).toHaveLength(0);
    expect(later.total).toBe(31);
    expect(other.apply(anEvent('created', 1, created))).toBe(false);
    expect(other.total).toBe(0);
  });

  it('with a status filter, drops a row that leaves the status and takes in a task that enters it', () => {
    const running = aTask({ status: 'Running', createdAt: '2026-11-25T10:00:00Z' });
    const page = new LiveTaskPage([running], 1, filtersFromParams({ status: 'Running' }));
    const other = aTask({ id: '0193a5b2-0000-7000-8000-000000000004', status: 'Running', createdAt: '2026-11-25T10:05:00Z', updatedAt: '2026-11-25T10:06:00Z' });

    page.apply({ ...anEvent('succeeded', 6, { ...running, status: 'Succeeded', updatedAt: '2026-11-25T10:00:05Z' }), from: 'Running' });
    expect(page.rows).toHaveLength(0);
    expect(page.total).toBe(0);

    page.apply({ ...anEvent('started', 4, other), from: 'Reserved' });
    expect(page.rows.map(r => r.id)).toEqual([other.id]);
    expect(page.total).toBe(1);
  });

  it('places a task entering page 1 by its creation time', () => {
    const newer = aTask({ id: '0193a5b2-0000-7000-8000-000000000005', status: 'Queued', createdAt: '2026-11-25T12:00:00Z' });
    const older = aTask({ id: '0193a5b2-0000-7000-8000-000000000006', status: 'Queued', createdAt: '2026-11-25T08:00:00Z' });
    const page = new LiveTaskPage([newer, older], 2, filtersFromParams({ status: 'Queued' }));
    const middle = aTask({ id: '0193a5b2-0000-7000-8000-000000000007', status: 'Queued', createdAt: '2026-11-25T10:00:00Z' });

    page.apply({ ...anEvent('requeued', 9, middle), from: 'Running' });

    expect(page.rows.map(r => r.id)).toEqual([newer.id, middle.id, older.id]);
  });

  it('keeps the page size when tasks arrive', () => {
    const filters = filtersFromParams({ pageSize: '10' });
    const rows = Array.from({ length: 10 }, (_, i) => aTask({ id: `0193a5b2-0000-7000-8000-0000000001${String(i).padStart(2, '0')}` }));
    const page = new LiveTaskPage(rows, 10, filters);

    page.add(aTask({ id: '0193a5b2-0000-7000-8000-000000000999' }));

    expect(page.rows).toHaveLength(10);
    expect(page.rows[0].id).toBe('0193a5b2-0000-7000-8000-000000000999');
  });
});
