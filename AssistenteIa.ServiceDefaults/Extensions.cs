using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Serilog;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace Microsoft.Extensions.Hosting;

/// <summary>What every AssistenteIa service shares: telemetry, health checks, service discovery, resilience and file logs.</summary>
public static class Extensions
{
    public const string HealthEndpointPath = "/health";
    public const string AlivenessEndpointPath = "/alive";

    /// <summary>Activity sources and meters of our own code, exported with the framework's.</summary>
    public static readonly string[] TelemetrySources = ["AssistenteIa.Messaging", "AssistenteIa.Ai", "AssistenteIa.Tasks", "AssistenteIa.Api", "RabbitMQ.Client.*"];

    /// <summary>
    /// A service's builder: <see cref="WebApplication.CreateBuilder(string[])"/>, except that the appsettings files are
    /// read once at start instead of watched for changes. No option of ours is read again at run time, so a reload
    /// changed nothing, and the watcher covers the whole content root, <c>logs/</c> included: every log line written
    /// woke it (3% of ServiceB's CPU under load, an inotify read and thread wake-ups per line). Only a command line
    /// that says <c>--hostBuilder:reloadConfigOnChange=true</c> turns watching back on (the command line outranks the
    /// <c>DOTNET_hostBuilder__reloadConfigOnChange</c> environment variable); a developer editing appsettings restarts.
    /// </summary>
    public static WebApplicationBuilder CreateServiceBuilder(string[] args) =>
        WebApplication.CreateBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false", .. args] });

    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        builder.AddFileLogging();
        builder.ConfigureOpenTelemetry();
        builder.AddDefaultHealthChecks();
        builder.Services.AddServiceDiscovery();
        builder.Services.ConfigureHttpClientDefaults(http =>
        {
            http.AddStandardResilienceHandler();
            http.AddServiceDiscovery();
        });
        return builder;
    }

    /// <summary>The configuration key of the console's level (the .NET console logger's own key, so it keeps its meaning).</summary>
    public const string ConsoleLevelKey = "Logging:Console:LogLevel:Default";

    /// <summary>
    /// Rolling, structured (compact JSON) log files in <c>logs/</c> under the service's content root. Log scopes
    /// (TaskId, CorrelationId) and the trace id go on every line; the other providers, OpenTelemetry
    /// among them, still receive every event so the Aspire dashboard shows them.
    /// <para>
    /// The console gets warnings and errors only (<see cref="ConsoleLevelKey"/>, default <c>Warning</c>): the whole
    /// record is in the files and in OpenTelemetry, and every line on the console is formatted on a thread of its own
    /// and read again by whatever collects the process's output (Aspire's DCP, a container runtime). Under load the
    /// per-task Information lines on the console cost ServiceB about 5% of its CPU and DCP as much again.
    /// </para>
    /// </summary>
    public static TBuilder AddFileLogging<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        var path = Path.Combine(builder.Environment.ContentRootPath, "logs", $"{builder.Environment.ApplicationName}-.log");
        var consoleLevel = ConsoleLevel(builder.Configuration[ConsoleLevelKey]);
        foreach (var console in builder.Services.Where(d => d.ServiceType == typeof(ILoggerProvider) && d.ImplementationType == typeof(ConsoleLoggerProvider)).ToList())
        {
            builder.Services.Remove(console);
        }

        builder.Services.AddSerilog(
            (services, configuration) => configuration
                .ReadFrom.Configuration(builder.Configuration)
                .MinimumLevel.Information()
                .MinimumLevel.Override("Microsoft.AspNetCore", Serilog.Events.LogEventLevel.Warning)
                .MinimumLevel.Override("Microsoft.EntityFrameworkCore", Serilog.Events.LogEventLevel.Warning)
                .Enrich.FromLogContext()
                .Enrich.WithProperty("Service", builder.Environment.ApplicationName)
                .WriteTo.File(
                    new CompactJsonFormatter(),
                    path,
                    rollingInterval: RollingInterval.Day,
                    fileSizeLimitBytes: 50 * 1024 * 1024,
                    rollOnFileSizeLimit: true,
                    retainedFileCountLimit: 14,
                    shared: true,
                    flushToDiskInterval: TimeSpan.FromSeconds(1))
                .WriteTo.Console(
                    restrictedToMinimumLevel: consoleLevel,
                    outputTemplate: "{Timestamp:HH:mm:ss.fff} {Level:u3} {SourceContext}: {Message:lj}{NewLine}{Exception}",
                    formatProvider: CultureInfo.InvariantCulture),
            preserveStaticLogger: false,
            writeToProviders: true);
        return builder;
    }

    /// <summary>
    /// The console's level from its configuration value, a .NET <see cref="LogLevel"/> name from <c>Information</c> up
    /// (the pipeline records nothing below Information, so <c>Debug</c> or <c>Trace</c> could show nothing); unset or
    /// empty: warnings. Only this key is read: per-category console keys and console formatters do not apply.
    /// </summary>
    public static LogEventLevel ConsoleLevel(string? configured) =>
        string.IsNullOrWhiteSpace(configured) ? LogEventLevel.Warning
        : ConsoleLevels.FirstOrDefault(level => string.Equals(level.Name, configured.Trim(), StringComparison.OrdinalIgnoreCase)) is { Name: not null } found ? found.Level
        : throw new InvalidOperationException(
            $"{ConsoleLevelKey} must be one of {string.Join(", ", ConsoleLevels.Select(level => level.Name))}, not '{configured}'.");

    // None: Serilog has no level above Fatal, so "None" keeps the fatal lines, which end the process anyway.
    private static readonly (string Name, LogEventLevel Level)[] ConsoleLevels =
    [
        (nameof(LogLevel.Information), LogEventLevel.Information),
        (nameof(LogLevel.Warning), LogEventLevel.Warning),
        (nameof(LogLevel.Error), LogEventLevel.Error),
        (nameof(LogLevel.Critical), LogEventLevel.Fatal),
        (nameof(LogLevel.None), LogEventLevel.Fatal),
    ];

    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });

        builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter(TelemetrySources))
            .WithTracing(tracing => tracing
                .AddSource(builder.Environment.ApplicationName)
                .AddSource(TelemetrySources)
                .AddAspNetCoreInstrumentation(options =>
                    options.Filter = context =>
                        !context.Request.Path.StartsWithSegments(HealthEndpointPath)
                        && !context.Request.Path.StartsWithSegments(AlivenessEndpointPath))
                .AddHttpClientInstrumentation());

        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            builder.Services.AddOpenTelemetry().UseOtlpExporter();
        }

        return builder;
    }

    public static TBuilder AddDefaultHealthChecks<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddHealthChecks().AddCheck("self", () => HealthCheckResult.Healthy(), ["live"]);
        return builder;
    }

    /// <summary><c>/health</c>: every check (ready to serve); <c>/alive</c>: the process answers.</summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.MapHealthChecks(HealthEndpointPath);
        app.MapHealthChecks(AlivenessEndpointPath, new HealthCheckOptions { Predicate = r => r.Tags.Contains("live") });
        return app;
    }
}
