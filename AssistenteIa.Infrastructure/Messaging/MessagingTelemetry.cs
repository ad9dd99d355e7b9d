using System.Diagnostics;
using System.Text;

namespace AssistenteIa.Infrastructure.Messaging;

/// <summary>Carries W3C trace context through message headers so one trace spans API → broker → worker.</summary>
public static class MessagingTelemetry
{
    public const string SourceName = "AssistenteIa.Messaging";
    public const string TraceParentHeader = "traceparent";
    public const string CorrelationIdHeader = "correlation-id";

    public static readonly ActivitySource Source = new(SourceName);

    public static string? ReadHeader(IDictionary<string, object?>? headers, string name) => headers?.TryGetValue(name, out var value) == true
        ? value switch
        {
            byte[] bytes => Encoding.UTF8.GetString(bytes),
            string text => text,
            _ => null,
        }
        : null;

    public static ActivityContext ParentFrom(string? traceParent) =>
        traceParent is not null && ActivityContext.TryParse(traceParent, null, out var context) ? context : default;
}
