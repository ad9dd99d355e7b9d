import { sse, until } from '../../testing/fakes';
import { EventStreamReader, type StreamMessage, type StreamState } from './event-stream-reader';

describe('EventStreamReader', () => {
  it('parses named events with ids and reconnects with Last-Event-ID after the stream ends', async () => {
    const fetchMock = vi.fn()
      .mockResolvedValueOnce(sse(['retry: 10\n: connected\n\n', 'id: 1\nevent: task.created\ndata: {"a":', '1}\n\n', 'id: 2\nevent: task.queued\ndata: {}\n\n']))
      .mockResolvedValueOnce(sse(['id: 3\nevent: task.started\ndata: {}\n\n']))
      .mockImplementation(() => new Promise(() => undefined));
    const messages: StreamMessage[] = [];
    const reader = new EventStreamReader({
      url: '/api/v1/tasks/events', fetch: fetchMock, headers: () => ({ 'X-Api-Key': 'k' }), onMessage: m => messages.push(m),
    });

    void reader.run();
    await until(() => messages.length === 3);
    reader.close();

    expect(messages.map(m => m.event)).toEqual(['task.created', 'task.queued', 'task.started']);
    expect(messages[0].data).toBe('{"a":1}');
    const first = fetchMock.mock.calls[0][1] as RequestInit;
    const second = fetchMock.mock.calls[1][1] as RequestInit;
    expect((first.headers as Record<string, string>)['X-Api-Key']).toBe('k');
    expect((first.headers as Record<string, string>)['Last-Event-ID']).toBeUndefined();
    expect((second.headers as Record<string, string>)['Last-Event-ID']).toBe('2');
  });

  it('retries after a network failure and a 503, then reads on', async () => {
    const fetchMock = vi.fn()
      .mockRejectedValueOnce(new TypeError('network down'))
      .mockResolvedValueOnce(new Response('busy', { status: 503 }))
      .mockResolvedValueOnce(sse(['id: 9\nevent: task.succeeded\ndata: {}\n\n']))
      .mockImplementation(() => new Promise(() => undefined));
    const messages: StreamMessage[] = [];
    const states: StreamState[] = [];
    const reader = new EventStreamReader({
      url: '/x', fetch: fetchMock, headers: () => ({}), onMessage: m => messages.push(m), onState: s => states.push(s), retryMs: 5,
    });

    void reader.run();
    await until(() => messages.length === 1);
    reader.close();

    expect(fetchMock.mock.calls.length).toBeGreaterThanOrEqual(3);
    expect(states).toContain('reconnecting');
    expect(states).toContain('open');
  });

  it('stops on 401 without retrying', async () => {
    const fetchMock = vi.fn().mockResolvedValue(new Response('', { status: 401 }));
    const states: StreamState[] = [];
    const reader = new EventStreamReader({ url: '/x', fetch: fetchMock, headers: () => ({}), onMessage: () => undefined, onState: s => states.push(s), retryMs: 1 });

    await reader.run();

    expect(fetchMock).toHaveBeenCalledTimes(1);
    expect(states.at(-1)).toBe('unauthorized');
  });

  it('stops reconnecting once closed', async () => {
    const fetchMock = vi.fn().mockImplementation(() => Promise.resolve(sse([': heartbeat\n\n'])));
    const reader = new EventStreamReader({ url: '/x', fetch: fetchMock, headers: () => ({}), onMessage: () => undefined, retryMs: 1 });

    const running = reader.run();
    await until(() => fetchMock.mock.calls.length >= 2);
    reader.close();
    await running;
    const calls = fetchMock.mock.calls.length;
    await new Promise(resolve => setTimeout(resolve, 30));

    expect(fetchMock.mock.calls.length).toBe(calls);
  });
});
