using System.ComponentModel.DataAnnotations;

namespace AssistenteIaApi.ServiceB.Worker.Skills.Rules;

/// <summary>Section <c>Rules</c>: how long and how many tenants' rule workflows this worker evaluates.</summary>
public sealed class RulesOptions
{
    public const string Section = "Rules";

    /// <summary>How long an evaluation may take before the attempt fails as <c>RuleTimeout</c> (permanent: the same rules on the same data take as long again).</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:05:00")]
    public TimeSpan EvaluationTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Evaluations running at once, counting those past their time limit that have not finished yet (.NET cannot stop
    /// them): what bounds the CPU that runaway rules can hold.
    /// </summary>
    [Range(1, 64)]
    public int MaxConcurrentEvaluations { get; set; } = 2;

    public const long DefaultMaxEvaluationSteps = 20_000_000;

    /// <summary>
    /// The work one evaluation may do, in steps (a lambda call, an element read, a method call, 64 characters of a string
    /// handled; see <c>RuleBudget</c>); past it the attempt fails as <c>RuleTooExpensive</c>. The default lets a few
    /// rules each compare every pair of 1,000 elements, and ends well within a second on a modest core.
    /// </summary>
    [Range(1000, 1_000_000_000)]
    public long MaxEvaluationSteps { get; set; } = DefaultMaxEvaluationSteps;

    /// <summary>The largest <c>rules</c> artifact (matches and their outputs, as JSON).</summary>
    [Range(1024, 16 * 1024 * 1024)]
    public int MaxResultBytes { get; set; } = 1024 * 1024;
}
