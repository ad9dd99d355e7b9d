using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Application.Tasks.Capabilities;

/// <summary>
/// What a capability needs from a task's payload, checked when the task is posted so a payload the skill cannot use
/// is a 400 then, not a dead letter later. One contract per capability, next to its skill.
/// </summary>
public interface ICapabilityContract
{
    CapabilityType Capability { get; }

    /// <summary>Adds a message per problem, keyed by the JSON path of the field (<c>payload.rules[0].expression</c>).</summary>
    void Validate(TaskPayload payload, IDictionary<string, string[]> errors);
}

/// <summary>Every capability's contract, by capability; a capability without one is refused at start-up.</summary>
public sealed class CapabilityContracts
{
    private readonly Dictionary<CapabilityType, ICapabilityContract> _contracts;

    public CapabilityContracts(IEnumerable<ICapabilityContract> contracts)
    {
        _contracts = [];
        foreach (var contract in contracts)
        {
            if (!_contracts.TryAdd(contract.Capability, contract))
            {
                throw new InvalidOperationException($"Two contracts are registered for {contract.Capability}.");
            }
        }

        var missing = Enum.GetValues<CapabilityType>().Where(c => !_contracts.ContainsKey(c)).ToList();
        if (missing.Count > 0)
        {
            throw new InvalidOperationException($"No contract is registered for {string.Join(", ", missing)}.");
        }
    }

    public void Validate(CapabilityType capability, TaskPayload payload, IDictionary<string, string[]> errors) =>
        _contracts[capability].Validate(payload, errors);
}
