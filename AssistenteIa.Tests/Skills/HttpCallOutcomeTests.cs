using System.Text;
using AssistenteIaApi.ServiceB.Worker.Skills.Integration;

namespace AssistenteIa.Tests.Skills;

/// <summary>How an integration call's status is judged and how its body and headers are kept.</summary>
public sealed class HttpCallOutcomeTests
{
    [Theory]
    [InlineData(200, null, null)]
    [InlineData(204, null, null)]
    [InlineData(201, new[] { 201 }, null)]
    [InlineData(404, new[] { 200, 404 }, null)]
    [InlineData(200, new[] { 201 }, "Permanent")]
    [InlineData(302, null, "Permanent")]
    [InlineData(400, null, "Permanent")]
    [InlineData(401, null, "Permanent")]
    [InlineData(404, null, "Permanent")]
    [InlineData(408, null, "Transient")]
    [InlineData(429, null, "Transient")]
    [InlineData(500, null, "Transient")]
    [InlineData(503, null, "Transient")]
    [InlineData(503, new[] { 200 }, "Transient")]
    public void Statuses_outside_the_expected_ones_fail_transient_when_the_server_may_recover_and_permanent_otherwise(int status, int[]? expected, string? kind)
    {
        var outcome = HttpCallOutcome.Classify(status, expected);

        Assert.Equal(kind, outcome?.Kind.ToString());
        if (outcome is { } failure)
        {
            Assert.Equal($"Http{status}", failure.Code);
        }
    }

    [Theory]
    [InlineData("application/json", true)]
    [InlineData("application/vnd.api+json", true)]
    [InlineData("text/html", true)]
    [InlineData("TEXT/PLAIN", true)]
    [InlineData("application/xml", true)]
    [InlineData("image/png", false)]
    [InlineData("application/octet-stream", false)]
    [InlineData(null, false)]
    public void Textual_media_types_are_kept_as_text(string? mediaType, bool text) => Assert.Equal(text, HttpCallOutcome.IsText(mediaType));

    [Fact]
    public void A_textual_body_that_is_not_valid_in_its_charset_is_kept_as_base64()
    {
        Assert.Equal("olá", HttpCallOutcome.AsText(Encoding.UTF8.GetBytes("olá"), "text/plain", "utf-8"));
        Assert.Null(HttpCallOutcome.AsText([0xC3, 0x28], "text/plain", null));
        Assert.Null(HttpCallOutcome.AsText(Encoding.UTF8.GetBytes("x"), "text/plain", "no-such-charset"));
        Assert.Null(HttpCallOutcome.AsText(Encoding.UTF8.GetBytes("x"), "image/png", null));
    }

    [Fact]
    public void Secret_values_echoed_by_the_server_are_redacted_from_body_and_headers()
    {
        const string secret = "tok-123456";
        var body = Encoding.UTF8.GetBytes($$"""{"auth":"Bearer {{secret}}","again":"{{secret}}{{secret}}"}""");

        var redacted = Encoding.UTF8.GetString(HttpCallOutcome.Redact(body, [secret]));

        Assert.Equal("""{"auth":"Bearer [redacted]","again":"[redacted][redacted]"}""", redacted);
        Assert.Equal("Bearer [redacted]", HttpCallOutcome.Redact($"Bearer {secret}", [secret]));
        Assert.Same(body, HttpCallOutcome.Redact(body, ["absent"]));
    }
}
