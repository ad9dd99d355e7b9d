using AssistenteIa.Application.Ports.Out;

namespace AssistenteIaApi.ServiceB.Worker.Skills.Vision;

/// <summary>
/// What a vision attempt has consumed so far (units of work and, on the model path, tokens), so that a failure or a
/// cancellation half-way still records what was spent.
/// </summary>
public sealed class UsageMeter(string model, string unit)
{
    private string _model = model;
    private long _tokensIn;
    private long _tokensOut;
    private long _units;

    public ExecutionUsage Usage => new(_model, _tokensIn, _tokensOut, _units, unit);

    public void CountUnit() => _units++;

    public void Add(ExecutionUsage usage)
    {
        if (usage.Model is { Length: > 0 } answered && answered != ExecutionUsage.Empty.Model)
        {
            _model = answered;
        }

        _tokensIn += usage.TokensIn;
        _tokensOut += usage.TokensOut;
    }

    /// <summary>Runs the work; what it throws leaves with the usage so far added to what the failure itself consumed.</summary>
    public async Task<T> MeasureAsync<T>(Func<Task<T>> work, CancellationToken cancellationToken)
    {
        try
        {
            return await work();
        }
        catch (AttemptCancelledException ex)
        {
            Add(ex.Usage);
            throw new AttemptCancelledException(Usage, ex.CancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw new AttemptCancelledException(Usage, cancellationToken);
        }
        catch (TaskExecutionException ex)
        {
            Add(ex.Usage);
            throw new TaskExecutionException(ex.Kind, ex.Code, ex.Message, Usage, ex.InnerException ?? ex);
        }
    }
}
