namespace AssistenteIaApi.ServiceB.Worker.Skills.Vision;

/// <summary>Removes an attempt's scratch folder; a failure to do so is logged, never allowed to hide the attempt's own outcome.</summary>
public static class TemporaryFiles
{
    public static void Delete(DirectoryInfo directory, ILogger logger)
    {
        try
        {
            directory.Delete(recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning(ex, "Could not delete the scratch folder {Directory}", directory.FullName);
        }
    }
}
