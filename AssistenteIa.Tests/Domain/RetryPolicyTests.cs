using AssistenteIa.Domain.Policies;

namespace AssistenteIa.Tests.Domain;

public sealed class RetryPolicyTests
{
    private readonly RetryPolicy _policy = new(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(3, 4)]
    [InlineData(5, 16)]
    public void The_ceiling_doubles_with_each_attempt(int attemptNo, double ceilingSeconds) =>
        Assert.Equal(ceilingSeconds * 0.999, _policy.NextDelay(attemptNo, 0.999).TotalSeconds, precision: 6);

    [Fact]
    public void The_delay_never_exceeds_the_cap()
    {
        Assert.Equal(TimeSpan.FromSeconds(15), _policy.NextDelay(6, 0.5));
        Assert.Equal(TimeSpan.FromSeconds(15), _policy.NextDelay(1000, 0.5));
    }

    [Fact]
    public void Full_jitter_spreads_the_delay_from_zero_to_the_ceiling()
    {
        Assert.Equal(TimeSpan.Zero, _policy.NextDelay(3, 0));
        Assert.Equal(TimeSpan.FromSeconds(2), _policy.NextDelay(3, 0.5));
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.0)]
    public void A_jitter_sample_outside_0_1_is_refused(double sample) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => _policy.NextDelay(1, sample));
}
