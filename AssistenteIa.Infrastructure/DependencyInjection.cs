using AssistenteIa.Application;
using AssistenteIa.Application.Outbox;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Application.Tasks.Capabilities;
using AssistenteIa.Application.Webhooks;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIa.Infrastructure.Messaging;
using AssistenteIa.Infrastructure.Persistence;
using AssistenteIa.Infrastructure.Rules;
using AssistenteIa.Infrastructure.Webhooks;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Npgsql;

namespace AssistenteIa.Infrastructure;

/// <summary>The composition root shared by the API and the workers.</summary>
public static class DependencyInjection
{
    public const string DatabaseConnectionName = "db";
    public const string BrokerConnectionName = "rabbitmq";
    public const string AiConnectionName = "ai";

    /// <summary>What every host needs: the task options, clock, metrics, database and the outbox publisher. Each host adds its own use cases and options.</summary>
    /// <param name="retryTransientFailures">
    /// Retry a statement that failed for a transient reason (a pooled connection broken by a database restart). Only
    /// for a host whose explicit transactions all run inside the execution strategy (the API's one does:
    /// <c>WebhookEventRouting</c>): EF's retrying strategy forbids them otherwise.
    /// </param>
    /// <param name="maxPoolSize">
    /// This host's share of the database's connections when its connection string names none (see
    /// <see cref="TuneConnectionString"/>).
    /// </param>
    public static IHostApplicationBuilder AddApplicationCore(this IHostApplicationBuilder builder, bool retryTransientFailures = false, int maxPoolSize = DefaultMaxPoolSize)
    {
        builder.Services.AddOptions<TaskOptions>().Bind(builder.Configuration.GetSection(TaskOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<TaskMetrics>();

        // The workers decide what to retry themselves (messages are requeued, the outbox is relayed, steps run again
        // next tick), so EF's retrying strategy stays off there: it would also forbid their explicit transactions.
        builder.AddNpgsqlDbContext<AppDbContext>(
            DatabaseConnectionName,
            settings =>
            {
                settings.DisableRetry = true;
                settings.ConnectionString = TuneConnectionString(settings.ConnectionString, builder.Environment.ApplicationName, maxPoolSize);
            },
            options =>
            {
                if (retryTransientFailures)
                {
                    options.UseNpgsql(npgsql => npgsql.EnableRetryOnFailure(maxRetryCount: 3, maxRetryDelay: TimeSpan.FromSeconds(1), errorCodesToAdd: null));
                }
            });
        builder.Services.AddScoped<IAppDbContext>(sp => sp.GetRequiredService<AppDbContext>());

        builder.Services.AddScoped<OutboxPublisher>();
        builder.Services.AddSingleton<OutboxSentMarks>();
        builder.Services.AddHostedService<OutboxSentMarksWriter>();
        return builder;
    }

    /// <summary>
    /// What a host's pool may hold when its connection string does not say: Npgsql's own default (100) in each of the
    /// three services is three times what a default PostgreSQL accepts (<c>max_connections</c> 100), and an API flooded
    /// with requests took all of them, leaving the workers "too many clients". The defaults of the three hosts
    /// (API 32, ServiceB 20 or its deliveries plus 8, ServiceC 20) leave room for a second ServiceB and for the operator's
    /// own sessions.
    /// </summary>
    public const int DefaultMaxPoolSize = 20;

    /// <summary>
    /// The hot path runs the same few statements thousands of times a second: they are prepared once per pooled
    /// connection (<c>Max Auto Prepare</c>), and a connection going back to the pool is not reset with a
    /// <c>DISCARD ALL</c> (no code here leaves session state behind: no <c>SET</c>, temp tables or advisory locks
    /// outside a transaction). A setting the connection string names itself is kept: behind PgBouncer in
    /// transaction mode older than 1.21, set <c>Max Auto Prepare=0</c>. After a migration changes a table that a
    /// prepared <c>SELECT *</c> reads, each pooled connection fails that statement once ("cached plan must not
    /// change result type") and prepares it again. The pool holds at most <paramref name="maxPoolSize"/> connections
    /// and names its sessions after the host (<c>application_name</c> in <c>pg_stat_activity</c>), and a database on
    /// this machine is reached without TLS (<c>SSL Mode=Disable</c>), unless the connection string says otherwise.
    /// </summary>
    public static string? TuneConnectionString(string? connectionString, string? applicationName = null, int maxPoolSize = DefaultMaxPoolSize)
    {
        if (string.IsNullOrEmpty(connectionString))
        {
            return connectionString;
        }

        // Npgsql's own builder answers ContainsKey for every keyword it knows; the generic one says what was written.
        var written = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString };
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        if (!written.ContainsKey("No Reset On Close") && !written.ContainsKey("NoResetOnClose"))
        {
            builder.NoResetOnClose = true;
        }

        if (!written.ContainsKey("Max Auto Prepare") && !written.ContainsKey("MaxAutoPrepare"))
        {
            builder.MaxAutoPrepare = 64;
        }

        if (!written.ContainsKey("Maximum Pool Size") && !written.ContainsKey("MaxPoolSize"))
        {
            builder.MaxPoolSize = maxPoolSize;
        }

        if (applicationName is { Length: > 0 } && !written.ContainsKey("Application Name") && !written.ContainsKey("ApplicationName"))
        {
            builder.ApplicationName = applicationName;
        }

        // PGSSLMODE, which Npgsql reads when the connection string names no mode, is the operator's word too.
        if (!written.ContainsKey("SSL Mode") && !written.ContainsKey("SslMode") && Environment.GetEnvironmentVariable("PGSSLMODE") is null
            && IsLoopback(builder.Host))
        {
            builder.SslMode = SslMode.Disable;
        }

        return builder.ConnectionString;
    }

    /// <summary>
    /// Every host named is this machine (<c>localhost</c>, 127.0.0.0/8, ::1): its traffic never leaves it, so Npgsql's
    /// default (TLS whenever the server offers it) only costs CPU on both sides, a tenth of a local Postgres' own
    /// (<c>perf</c>). A tunnel or proxy listening on localhost (ssh, the cloud SQL proxies) encrypts on its own.
    /// </summary>
    private static bool IsLoopback(string? hosts) =>
        hosts?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) is { Length: > 0 } entries
        && entries.All(entry =>
        {
            // "host", "host:port", "[::1]:port" or "::1".
            var host = entry.StartsWith('[') ? entry[1..Math.Max(1, entry.IndexOf(']', StringComparison.Ordinal))]
                : entry.Count(c => c == ':') == 1 ? entry[..entry.IndexOf(':', StringComparison.Ordinal)]
                : entry;
            return string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)
                || (System.Net.IPAddress.TryParse(host, out var address) && System.Net.IPAddress.IsLoopback(address));
        });

    /// <summary>Every capability's payload contract, checked when a task is posted.</summary>
    public static IHostApplicationBuilder AddCapabilityContracts(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<ICapabilityContract>(new PromptContract(CapabilityType.LLM_Generation));
        builder.Services.AddSingleton<ICapabilityContract>(new PromptContract(CapabilityType.LLM_Reasoning));
        builder.Services.AddSingleton<ICapabilityContract, ClassificationContract>();
        builder.Services.AddSingleton<ICapabilityContract, RuleEngineContract>();
        builder.Services.AddSingleton<ICapabilityContract, ExternalIntegrationContract>();
        builder.Services.AddSingleton<ICapabilityContract, EmbeddingSearchContract>();
        builder.Services.AddSingleton<ICapabilityContract, OcrContract>();
        builder.Services.AddSingleton<ICapabilityContract, ObjectDetectionContract>();
        builder.Services.AddSingleton<CapabilityContracts>();
        return builder;
    }

    /// <summary>Section <c>Ai</c>, for the hosts that check (API) or use (ServiceB) models and prices.</summary>
    public static IHostApplicationBuilder AddAiOptions(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<AiOptions>().Bind(builder.Configuration.GetSection(AiOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        return builder;
    }

    /// <summary>RabbitMQ connection (through Aspire, with health check and tracing) and the confirming publisher.</summary>
    public static IHostApplicationBuilder AddMessaging(this IHostApplicationBuilder builder)
    {
        builder.AddRabbitMQClient(BrokerConnectionName, configureConnectionFactory: factory =>
        {
            factory.AutomaticRecoveryEnabled = true;

            // Consumers restore themselves (BrokerSubscription), also after channel-level closes that the
            // client does not recover; recovering them here as well would leave two consumers per queue.
            factory.TopologyRecoveryEnabled = false;
            factory.NetworkRecoveryInterval = TimeSpan.FromSeconds(2);
            factory.ClientProvidedName = builder.Environment.ApplicationName;
        });
        builder.Services.AddSingleton<RabbitMqPublisher>();
        builder.Services.AddSingleton<IMessagePublisher>(sp => sp.GetRequiredService<RabbitMqPublisher>());
        builder.Services.AddSingleton<IWorkQueue, RabbitMqWorkQueue>();

        // After the marks writer: stopped before it, so the marks of its last publishes are written.
        builder.Services.AddSingleton<OutboxDispatcher>();
        builder.Services.AddHostedService<OutboxDispatcherService>();
        return builder;
    }

    /// <summary>
    /// What the API (registration) and ServiceC (delivery) share for webhooks: options, the SSRF guard and the secrets,
    /// encrypted with ASP.NET Data Protection whose key ring both read from the database.
    /// </summary>
    public static IHostApplicationBuilder AddWebhookCore(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<WebhookOptions>().Bind(builder.Configuration.GetSection(WebhookOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddDataProtection().SetApplicationName("AssistenteIa").PersistKeysToDbContext<AppDbContext>();
        builder.Services.AddSingleton<IWebhookSecrets, WebhookSecrets>();
        builder.Services.AddScoped<IWebhookEventRouting, WebhookEventRouting>();
        return builder.AddOutboundGuard();
    }

    /// <summary>Section <c>Outbound</c> and the SSRF guard, for every host that calls or checks tenant-given URLs.</summary>
    public static IHostApplicationBuilder AddOutboundGuard(this IHostApplicationBuilder builder)
    {
        var outbound = builder.Configuration.GetSection(OutboundOptions.Section);
        builder.Services.AddOptions<OutboundOptions>().Bind(outbound)
            .Configure(options =>
            {
                var errors = new List<string>();
                if (ConfigurationLists.Ports(outbound, nameof(OutboundOptions.AllowedPorts), errors) is { } ports)
                {
                    options.AllowedPorts = ports;
                }

                errors.ForEach(options.AddConfigurationError);
            })
            .ValidateDataAnnotations().ValidateOnStart();
        builder.Services.TryAddSingleton<OutboundUrlPolicy>();
        builder.Services.TryAddSingleton<IOutboundUrlPolicy>(sp => sp.GetRequiredService<OutboundUrlPolicy>());
        return builder;
    }
}
