namespace AssistenteIaApi.ServiceB.Worker.Skills;

/// <summary>Reads an HTTP body from a tenant-given URL without ever holding more than a limit in memory.</summary>
public static class LimitedBody
{
    /// <summary>The whole body, or null as soon as it passes <paramref name="limit"/> bytes.</summary>
    public static async Task<byte[]?> ReadAsync(HttpContent content, int limit, CancellationToken cancellationToken)
    {
        await using var stream = await content.ReadAsStreamAsync(cancellationToken);
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }
}
