using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Application.Tasks.Capabilities;

/// <summary>The executor: hands each attempt to the one skill registered for the task's capability.</summary>
public sealed class SkillRegistry : ITaskExecutor
{
    private readonly Dictionary<CapabilityType, ITaskSkill> _skills;

    public SkillRegistry(IEnumerable<ITaskSkill> skills)
    {
        _skills = [];
        foreach (var skill in skills)
        {
            if (!_skills.TryAdd(skill.Capability, skill))
            {
                throw new InvalidOperationException($"Two skills are registered for {skill.Capability}: {_skills[skill.Capability].GetType().Name} and {skill.GetType().Name}.");
            }
        }

        var missing = Enum.GetValues<CapabilityType>().Where(c => !_skills.ContainsKey(c)).ToList();
        if (missing.Count > 0)
        {
            throw new InvalidOperationException($"No skill is registered for {string.Join(", ", missing)}.");
        }
    }

    public ITaskSkill For(CapabilityType capability) => _skills[capability];

    public Task<ExecutionResult> ExecuteAsync(ExecutionRequest request, CancellationToken cancellationToken) =>
        _skills[request.Type.Capability].ExecuteAsync(request, cancellationToken);
}
