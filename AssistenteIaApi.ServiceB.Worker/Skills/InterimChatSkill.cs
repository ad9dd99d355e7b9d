using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIa.Infrastructure.Ai;

namespace AssistenteIaApi.ServiceB.Worker.Skills;

/// <summary>INTERIM, being replaced: routes a capability without its own skill yet through the chat model, as before the registry.</summary>
public sealed class InterimChatSkill(CapabilityType capability, ChatClientTaskExecutor chat) : ITaskSkill
{
    public CapabilityType Capability => capability;

    public Task<ExecutionResult> ExecuteAsync(ExecutionRequest request, CancellationToken cancellationToken) => chat.ExecuteAsync(request, cancellationToken);
}
