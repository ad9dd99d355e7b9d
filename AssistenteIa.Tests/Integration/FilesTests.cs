using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using AssistenteIa.Application.Files;

namespace AssistenteIa.Tests.Integration;

/// <summary>Uploads: the type comes from the content, the size is limited, and a file is its tenant's alone.</summary>
[Collection(AppCollection.Name)]
public sealed class FilesTests(AppFixture fixture)
{
    [Fact]
    public async Task An_upload_is_stored_under_its_sniffed_type_and_downloads_byte_for_byte()
    {
        using var client = fixture.CreateApiClient();

        // The client claims text; the content is a PNG.
        using var response = await TaskApi.UploadAsync(client, TaskApi.TinyPng, "../../etc/photo.png", claimedType: "text/plain");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var file = (await response.Content.ReadFromJsonAsync<FileDto>(Json.Options))!;
        Assert.Equal(("image/png", "photo.png", TaskApi.TinyPng.Length), (file.MediaType, file.Name, (int)file.SizeBytes));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(TaskApi.TinyPng)), file.Sha256);
        Assert.Equal($"/api/v1/files/{file.Id}", response.Headers.Location?.OriginalString);

        using var download = await client.GetAsync($"/api/v1/files/{file.Id}");
        Assert.Equal(HttpStatusCode.OK, download.StatusCode);
        Assert.Equal("image/png", download.Content.Headers.ContentType?.MediaType);
        Assert.Equal("attachment", download.Content.Headers.ContentDisposition?.DispositionType);
        Assert.Equal("nosniff", download.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Equal(TaskApi.TinyPng, await download.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task A_file_of_no_accepted_type_is_415_and_nothing_is_stored()
    {
        using var client = fixture.CreateApiClient();
        var before = await CountFilesAsync();

        // An ELF header, claimed to be an image.
        using var response = await TaskApi.UploadAsync(client, [0x7F, 0x45, 0x4C, 0x46, 0x02, 0x01, 0x01, 0x00, 0x00, 0xFF], "evil.png");

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        await TaskApi.ProblemAsync(response);
        Assert.Equal(before, await CountFilesAsync());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2 * 1024 * 1024)]
    public async Task A_file_over_the_size_limit_is_413_and_nothing_is_stored(int bytesOver)
    {
        // One byte over fits in the request's allowance for the multipart envelope and meets the action's own check;
        // megabytes over are refused by the declared length before the body is read.
        using var client = fixture.CreateApiClient();
        var before = await CountFilesAsync();
        var big = new byte[(10 * 1024 * 1024) + bytesOver];
        TaskApi.TinyPng.CopyTo(big, 0);

        using var response = await TaskApi.UploadAsync(client, big, expectContinue: true);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        await TaskApi.ProblemAsync(response);
        Assert.Equal(before, await CountFilesAsync());
    }

    [Fact]
    public async Task An_upload_without_a_file_part_is_400()
    {
        using var client = fixture.CreateApiClient();
        using var form = new MultipartFormDataContent { { new StringContent("x"), "notfile" } };

        using var response = await client.PostAsync("/api/v1/files", form);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        await TaskApi.ProblemAsync(response);
    }

    [Fact]
    public async Task Another_tenants_file_is_404_and_cannot_be_a_task_input()
    {
        using var owner = fixture.CreateApiClient();
        using var other = fixture.CreateApiClient(AppFixture.TenantBKey);
        var file = await TaskApi.UploadFileAsync(owner, TaskApi.TinyPng);

        using var download = await other.GetAsync($"/api/v1/files/{file.Id}");
        using var info = await other.GetAsync($"/api/v1/files/{file.Id}/info");
        using var task = await TaskApi.PostAsync(other, TaskApi.For("Vision_OCR", new { inputs = new[] { new { fileId = file.Id } } }));

        Assert.Equal(HttpStatusCode.NotFound, download.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, info.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, task.StatusCode);
        var problem = await TaskApi.ProblemAsync(task);
        Assert.True(problem.GetProperty("errors").TryGetProperty("payload.inputs[0].fileId", out _), problem.ToString());
    }

    private Task<long> CountFilesAsync() => fixture.ScalarAsync<long>("""SELECT count(*) FROM "Files" """);
}
