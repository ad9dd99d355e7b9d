using AssistenteIa.Application.Tasks.Queries.StreamTaskEvents;
using AssistenteIa.Infrastructure.Messaging;
using AssistenteIa.Infrastructure.Persistence;
using AssistenteIaApi.Interfaces.Messaging;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using RabbitMQ.Client;

namespace AssistenteIa.Tests.Integration;

/// <summary>The API's live-stream queue bound to the task events only while a stream is open (real RabbitMQ, a virtual host of the tests).</summary>
public sealed class OnDemandBindingTests(IsolatedDatabase isolated) : IClassFixture<IsolatedDatabase>, IAsyncLifetime
{
    private static readonly TimeSpan Linger = TimeSpan.FromSeconds(30);

    private readonly FakeTimeProvider _clock = new();
    private readonly string _exchange = $"on-demand-binding-tests.{Guid.NewGuid():N}";
    private IChannel _channel = null!;
    private string _queue = null!;
    private int _bound;

    public async ValueTask InitializeAsync()
    {
        var connection = isolated.Services.GetRequiredService<IConnection>();
        _channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        await _channel.ExchangeDeclareAsync(_exchange, ExchangeType.Topic, durable: false, autoDelete: false);
        _queue = (await _channel.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true)).QueueName;
    }

    public async ValueTask DisposeAsync()
    {
        await _channel.ExchangeDeleteAsync(_exchange);
        await _channel.DisposeAsync();
    }

    [Fact]
    public async Task The_queue_is_bound_while_wanted_and_unbound_a_linger_after_the_last_one_went()
    {
        var binding = Binding();
        await binding.AttachAsync(_channel, _queue, CancellationToken.None);
        Assert.False(await RoutedAsync(), "nothing wants the events yet");

        binding.Acquire();
        await binding.Settling;
        Assert.True(binding.IsBound);
        Assert.True(await RoutedAsync());
        Assert.Equal(1, _bound);

        binding.Acquire();
        binding.Release();
        Assert.True(await RoutedAsync(), "one stream is still open");

        binding.Release();
        _clock.Advance(Linger - TimeSpan.FromSeconds(1));
        Assert.True(await RoutedAsync(), "within the linger");
        _clock.Advance(TimeSpan.FromSeconds(1));
        await binding.Settling;
        Assert.False(binding.IsBound);
        Assert.False(await RoutedAsync());
    }

    [Fact]
    public async Task A_stream_opened_within_the_linger_keeps_the_binding_and_needs_no_catch_up()
    {
        var binding = await BoundAsync();

        binding.Release();
        var unbindLater = binding.Settling;
        binding.Acquire();
        _clock.Advance(Linger);
        await unbindLater;

        Assert.True(binding.IsBound);
        Assert.True(await RoutedAsync());
        Assert.Equal(1, _bound);
    }

    [Fact]
    public async Task The_linger_counts_from_the_last_stream_closed()
    {
        var binding = await BoundAsync();

        binding.Release();
        var first = binding.Settling;
        _clock.Advance(TimeSpan.FromSeconds(10));
        binding.Acquire();
        _clock.Advance(TimeSpan.FromSeconds(10));
        binding.Release();
        var last = binding.Settling;

        // The first close's linger is over, the last one's is not: still bound.
        _clock.Advance(TimeSpan.FromSeconds(10));
        await first;
        Assert.True(binding.IsBound);
        Assert.True(await RoutedAsync());

        _clock.Advance(TimeSpan.FromSeconds(20));
        await last;
        Assert.False(binding.IsBound);
    }

    /// <summary>
    /// On every (re)subscribe the queue is handed over again: bound when wanted (the streams then catch up), and made
    /// unbound when not, since a queue kept across a lost channel keeps its bindings.
    /// </summary>
    [Fact]
    public async Task A_new_channel_gets_the_binding_the_demand_asks_for()
    {
        var wanted = Binding();
        wanted.Acquire();
        await wanted.Settling;
        Assert.False(wanted.IsBound, "no channel to bind on yet");
        await wanted.AttachAsync(_channel, _queue, CancellationToken.None);
        Assert.True(wanted.IsBound);
        Assert.Equal(1, _bound);
        Assert.True(await RoutedAsync());

        var unwanted = Binding();
        await unwanted.AttachAsync(_channel, _queue, CancellationToken.None);
        Assert.False(unwanted.IsBound);
        Assert.False(await RoutedAsync(), "the binding left from before is removed");
    }

    /// <summary>
    /// The API's composition: the hub's first stream wants the feed, and once the queue is bound every open stream is
    /// told to catch up from the outbox (an event published before the bind never reached the queue).
    /// </summary>
    [Fact]
    public async Task In_the_API_the_first_stream_binds_the_feed_and_the_bind_makes_the_streams_catch_up()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddDbContext<AppDbContext>(o => o.UseNpgsql(isolated.ConnectionString));
        builder.AddTaskEventStreams();
        await using var services = builder.Services.BuildServiceProvider();
        var binding = services.GetRequiredService<OnDemandBinding>();
        var hub = services.GetRequiredService<TaskEventHub>();
        await RabbitMqTopology.DeclareAsync(_channel, CancellationToken.None);
        await binding.AttachAsync(_channel, _queue, CancellationToken.None);
        Assert.False(binding.IsBound);

        using var stream = hub.Subscribe("tenant-a", taskId: null)!;
        await binding.Settling;

        Assert.True(binding.IsBound);
        Assert.True(stream.TakeGap(), "the stream is told to catch up after the bind");

        // The instance listens: task events are published while its feed is on.
        var listener = services.GetRequiredService<TaskEventListenerLease>();
        Assert.True(await Sql.ScalarAsync<bool>(isolated.ConnectionString, """SELECT EXISTS (SELECT 1 FROM "EventListeners" WHERE "Name" = @p0 AND "Until" > now())""", listener.Name));
    }

    [Fact]
    public async Task The_listener_is_registered_before_the_bind_removed_after_the_unbind_and_registered_again_when_it_lapsed()
    {
        var listener = new RecordingListener(this);
        var binding = new OnDemandBinding(_exchange, ["task.#"], Linger, () => Interlocked.Increment(ref _bound), _clock, NullLogger<OnDemandBinding>.Instance, listener);
        await binding.AttachAsync(_channel, _queue, CancellationToken.None);
        Assert.Equal(["remove (routed: False)"], listener.Calls);
        listener.Calls.Clear();
        await binding.RenewListenerAsync(CancellationToken.None);
        Assert.Empty(listener.Calls);

        binding.Acquire();
        await binding.Settling;
        Assert.Equal(["ensure (routed: False)"], listener.Calls);
        Assert.Equal(1, _bound);

        // A live registration is renewed; a lapsed one is registered again and the streams catch up.
        await binding.RenewListenerAsync(CancellationToken.None);
        Assert.Equal(1, _bound);
        listener.Lapsed = true;
        await binding.RenewListenerAsync(CancellationToken.None);
        Assert.Equal(2, _bound);

        binding.Release();
        _clock.Advance(Linger);
        await binding.Settling;
        Assert.Equal("remove (routed: False)", listener.Calls[^1]);
    }

    /// <summary>Records each call with whether the queue was bound at that moment.</summary>
    private sealed class RecordingListener(OnDemandBindingTests test) : IBindingListener
    {
        public List<string> Calls { get; } = [];

        public bool Lapsed { get; set; }

        public async Task<bool> EnsureAsync(CancellationToken cancellationToken)
        {
            Calls.Add($"ensure (routed: {await test.RoutedAsync()})");
            var lapsed = Lapsed;
            Lapsed = false;
            return lapsed;
        }

        public async Task RemoveAsync(CancellationToken cancellationToken) => Calls.Add($"remove (routed: {await test.RoutedAsync()})");
    }

    /// <summary>A binding attached to the test's queue, with one stream wanting it and the bind done.</summary>
    private async Task<OnDemandBinding> BoundAsync()
    {
        var binding = Binding();
        await binding.AttachAsync(_channel, _queue, CancellationToken.None);
        binding.Acquire();
        await binding.Settling;
        return binding;
    }

    private OnDemandBinding Binding() =>
        new(_exchange, ["task.#"], Linger, () => Interlocked.Increment(ref _bound), _clock, NullLogger<OnDemandBinding>.Instance);

    /// <summary>Publishes one event (confirmed, so routed or dropped by then) and says whether it reached the queue.</summary>
    private async Task<bool> RoutedAsync()
    {
        await _channel.BasicPublishAsync(_exchange, "task.succeeded", "{}"u8.ToArray());
        var got = await _channel.BasicGetAsync(_queue, autoAck: true);
        return got is not null;
    }
}
