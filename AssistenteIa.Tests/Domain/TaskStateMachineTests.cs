using AssistenteIa.Domain.Exceptions;
using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Tests.Domain;

public sealed class TaskStateMachineTests
{
    private static readonly HashSet<(AiTaskStatus, AiTaskStatus)> Allowed =
    [
        (AiTaskStatus.Created, AiTaskStatus.Queued),
        (AiTaskStatus.Created, AiTaskStatus.Cancelled),
        (AiTaskStatus.Queued, AiTaskStatus.Reserved),
        (AiTaskStatus.Queued, AiTaskStatus.Cancelled),
        (AiTaskStatus.Reserved, AiTaskStatus.Running),
        (AiTaskStatus.Reserved, AiTaskStatus.Queued),
        (AiTaskStatus.Reserved, AiTaskStatus.Cancelled),
        (AiTaskStatus.Running, AiTaskStatus.Succeeded),
        (AiTaskStatus.Running, AiTaskStatus.Failed),
        (AiTaskStatus.Running, AiTaskStatus.Cancelled),
        (AiTaskStatus.Running, AiTaskStatus.DeadLetter),
        (AiTaskStatus.Running, AiTaskStatus.Queued),
        (AiTaskStatus.Failed, AiTaskStatus.Queued),
        (AiTaskStatus.Failed, AiTaskStatus.Cancelled),
        (AiTaskStatus.Failed, AiTaskStatus.DeadLetter),
    ];

    public static TheoryData<AiTaskStatus, AiTaskStatus> AllowedTransitions() => [.. Allowed];

    public static TheoryData<AiTaskStatus, AiTaskStatus> RefusedTransitions()
    {
        var data = new TheoryData<AiTaskStatus, AiTaskStatus>();
        foreach (var from in Enum.GetValues<AiTaskStatus>())
        {
            foreach (var to in Enum.GetValues<AiTaskStatus>())
            {
                if (!Allowed.Contains((from, to)))
                {
                    data.Add(from, to);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(AllowedTransitions))]
    public void An_allowed_transition_is_permitted(AiTaskStatus from, AiTaskStatus to) =>
        Assert.True(TaskStateMachine.CanTransition(from, to));

    [Theory]
    [MemberData(nameof(RefusedTransitions))]
    public void A_transition_outside_the_machine_is_refused(AiTaskStatus from, AiTaskStatus to) =>
        Assert.False(TaskStateMachine.CanTransition(from, to));

    [Theory]
    [MemberData(nameof(AllowedTransitions))]
    public void The_aggregate_performs_every_allowed_transition(AiTaskStatus from, AiTaskStatus to)
    {
        var task = Tasks.In(from);

        Tasks.Drive(task, to);

        Assert.Equal(to, task.Status);
    }

    [Theory]
    [MemberData(nameof(RefusedTransitions))]
    public void The_aggregate_refuses_every_other_transition(AiTaskStatus from, AiTaskStatus to)
    {
        var task = Tasks.In(from);

        Assert.ThrowsAny<DomainException>(() => Tasks.Drive(task, to));
        Assert.Equal(from, task.Status);
    }

    [Theory]
    [InlineData(AiTaskStatus.Succeeded)]
    [InlineData(AiTaskStatus.Cancelled)]
    [InlineData(AiTaskStatus.DeadLetter)]
    public void Finished_states_are_terminal(AiTaskStatus status) => Assert.True(TaskStateMachine.IsTerminal(status));
}
