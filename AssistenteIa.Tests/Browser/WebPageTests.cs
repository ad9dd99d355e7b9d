using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Aspire.Hosting.Testing;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIa.Tests.Integration;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace AssistenteIa.Tests.Browser;

/// <summary>The Angular page, served by the API at <c>/</c>, driven in a real Chromium against the running system.</summary>
[Collection(AppCollection.Name)]
public sealed class WebPageTests(AppFixture app, BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private static readonly LocatorAssertionsToHaveTextOptions UntilExecuted = new() { Timeout = 60_000 };

    private Uri ApiAddress => app.App.GetEndpoint("api", "http");

    [Fact]
    public async Task A_task_created_in_the_form_appears_at_once_and_turns_Succeeded_without_a_reload()
    {
        await using var web = await WebPage.OpenAsync(browser, ApiAddress, "create-task");
        await web.SignInAsync(AppFixture.TenantAKey);
        await web.Page.EvaluateAsync("() => { window.notReloaded = true; }");

        await web.Page.GetByRole(AriaRole.Button, new() { Name = "New task" }).ClickAsync();
        await web.Page.GetByLabel("Prompt").FillAsync($"Summarise the ticket {Guid.NewGuid()}");
        await web.Page.GetByLabel("Latency (ms)").FillAsync("800");
        var response = await web.Page.RunAndWaitForResponseAsync(
            () => web.Page.GetByRole(AriaRole.Button, new() { Name = "Create task" }).ClickAsync(),
            r => r.Request.Method == "POST" && r.Url.EndsWith("/api/v1/tasks", StringComparison.Ordinal));
        Assert.Equal(202, response.Status);
        var id = (await response.JsonAsync())!.Value.GetProperty("id").GetString();

        var row = web.Page.Locator($"tr[data-task-id='{id}']");
        await Expect(row).ToBeVisibleAsync(new() { Timeout = 5_000 });
        await Expect(row.GetByTestId("status")).ToHaveTextAsync("Succeeded", UntilExecuted);
        Assert.True(await web.Page.EvaluateAsync<bool>("() => window.notReloaded === true"), "the page was reloaded");
        Assert.Empty(web.Errors);
    }

    [Fact]
    public async Task The_validation_problem_of_the_API_is_shown_next_to_the_field()
    {
        await using var web = await WebPage.OpenAsync(browser, ApiAddress, "create-task-invalid");
        await web.SignInAsync(AppFixture.TenantAKey);

        await web.Page.GetByRole(AriaRole.Button, new() { Name = "New task" }).ClickAsync();
        await web.Page.GetByLabel("Prompt").FillAsync("A prompt");
        await web.Page.GetByLabel("Max attempts").FillAsync("99");
        await web.Page.GetByRole(AriaRole.Button, new() { Name = "Create task" }).ClickAsync();

        await Expect(web.Page.Locator("#maxAttemptsError")).ToContainTextAsync("maxAttempts");
        await Expect(web.Page.GetByLabel("Max attempts")).ToHaveAttributeAsync("aria-invalid", "true");
        await Expect(web.Page.GetByRole(AriaRole.Alert)).ToBeVisibleAsync();
        Assert.Empty(web.Errors);
    }

    [Fact]
    public async Task A_slow_task_is_cancelled_from_its_page()
    {
        using var api = app.CreateApiClient();
        var task = await TaskApi.CreateAsync(api, TaskApi.Body(simulation: new { latencyMs = 120_000 }));
        await using var web = await WebPage.OpenAsync(browser, ApiAddress, "cancel-task");
        await web.SignInAsync(AppFixture.TenantAKey);

        await web.Page.GotoAsync($"/tasks/{task.Id}");
        var status = web.Page.Locator(".page-head").GetByTestId("status");
        await Expect(status).ToHaveTextAsync("Running", UntilExecuted);
        await Expect(web.Page.GetByTestId("timeline")).ToContainTextAsync("started");
        await web.Page.GetByRole(AriaRole.Button, new() { Name = "Cancel task" }).ClickAsync();

        // The API's answer shown first (CI once saw the status stay Running with no cancel reaching the API), then the
        // worker's.
        await Expect(web.Page.Locator("p.notice[role=status]")).ToBeVisibleAsync(new() { Timeout = 30_000 });
        await Expect(status).ToHaveTextAsync("Cancelled", new() { Timeout = 30_000 });
        await Expect(web.Page.GetByTestId("timeline")).ToContainTextAsync("cancelled");
        await Expect(web.Page.GetByRole(AriaRole.Button, new() { Name = "Cancel task" })).ToHaveCountAsync(0);
        Assert.Equal(AiTaskStatus.Cancelled, (await TaskApi.GetAsync(api, task.Id)).Status);
        Assert.Empty(web.Errors);
    }

    [Fact]
    public async Task A_task_with_two_transient_failures_shows_its_three_attempts_live()
    {
        using var api = app.CreateApiClient();
        await using var web = await WebPage.OpenAsync(browser, ApiAddress, "three-attempts");
        await web.SignInAsync(AppFixture.TenantAKey);
        var task = await TaskApi.CreateAsync(api, TaskApi.Body(simulation: new { latencyMs = 4_000, failAttempts = 2 }, maxAttempts: 5));

        await web.Page.GotoAsync($"/tasks/{task.Id}");
        await Expect(web.Page.Locator(".page-head").GetByTestId("status")).ToBeVisibleAsync();
        await web.Page.EvaluateAsync("() => { window.notReloaded = true; }");

        // Each attempt takes 4 s (the third starts 8 s or more after the task): the page is up long before it, on a slow
        // machine too, and it must then arrive by itself.
        Assert.True(await web.Page.Locator("table.attempts tbody tr").CountAsync() < 3, "the task finished before the page was up");

        var attempts = web.Page.Locator("table.attempts tbody tr");
        await Expect(attempts).ToHaveCountAsync(3, new() { Timeout = 60_000 });
        await Expect(web.Page.Locator(".page-head").GetByTestId("status")).ToHaveTextAsync("Succeeded", UntilExecuted);
        await Expect(attempts.Nth(0)).ToContainTextAsync("Failed");
        await Expect(attempts.Nth(1)).ToContainTextAsync("Failed");
        await Expect(attempts.Nth(2)).ToContainTextAsync("Succeeded");
        await Expect(web.Page.GetByTestId("timeline")).ToContainTextAsync("failed");
        Assert.True(await web.Page.EvaluateAsync<bool>("() => window.notReloaded === true"), "the page was reloaded");
        Assert.Empty(web.Errors);
    }

    [Fact]
    public async Task Tenant_B_never_sees_a_task_of_tenant_A()
    {
        using var apiA = app.CreateApiClient(AppFixture.TenantAKey);
        using var apiB = app.CreateApiClient(AppFixture.TenantBKey);
        var before = await TaskApi.CreateAsync(apiA, TaskApi.Body());
        await using var web = await WebPage.OpenAsync(browser, ApiAddress, "tenant-b");
        await web.SignInAsync(AppFixture.TenantBKey);

        // A task of A created while B's page is open, then one of B's: B's arriving live shows the stream is flowing.
        var during = await TaskApi.CreateAsync(apiA, TaskApi.Body());
        var own = await TaskApi.CreateAsync(apiB, TaskApi.Body());
        await Expect(web.Page.Locator($"tr[data-task-id='{own.Id}']")).ToBeVisibleAsync(new() { Timeout = 30_000 });
        await TaskApi.WaitForTerminalAsync(apiA, during.Id);
        await Expect(web.Page.Locator($"tr[data-task-id='{own.Id}']").GetByTestId("status")).ToHaveTextAsync("Succeeded", UntilExecuted);

        await Expect(web.Page.Locator($"tr[data-task-id='{before.Id}']")).ToHaveCountAsync(0);
        await Expect(web.Page.Locator($"tr[data-task-id='{during.Id}']")).ToHaveCountAsync(0);
        await web.Page.GotoAsync($"/tasks/{during.Id}");
        await Expect(web.Page.GetByRole(AriaRole.Heading, new() { Name = "Task not found" })).ToBeVisibleAsync();
        await Expect(web.Page.Locator("pre.payload")).ToHaveCountAsync(0);
    }

    [Fact]
    public async Task The_dashboard_draws_its_charts_from_the_tenants_figures()
    {
        using var api = app.CreateApiClient();
        var task = await TaskApi.CreateAsync(api, TaskApi.Body());
        await TaskApi.WaitForStatusAsync(api, task.Id, AiTaskStatus.Succeeded);
        await using var web = await WebPage.OpenAsync(browser, ApiAddress, "dashboard");
        await web.SignInAsync(AppFixture.TenantAKey);

        await web.Page.GetByRole(AriaRole.Link, new() { Name = "Dashboard" }).ClickAsync();

        var charts = web.Page.Locator("app-chart canvas");
        await Expect(charts).ToHaveCountAsync(5, new() { Timeout = 30_000 });
        Assert.True(int.Parse(await web.Page.GetByTestId("kpi-tasks").InnerTextAsync(), System.Globalization.CultureInfo.InvariantCulture) >= 1);
        foreach (var chart in await charts.AllAsync())
        {
            // A drawn chart differs from a blank canvas of the same size.
            var drawn = await chart.EvaluateAsync<bool>(
                "c => { const blank = document.createElement('canvas'); blank.width = c.width; blank.height = c.height; return c.width > 0 && c.height > 0 && c.toDataURL() !== blank.toDataURL(); }");
            Assert.True(drawn, $"chart '{await chart.GetAttributeAsync("aria-label")}' is blank");
        }

        Assert.Empty(web.Errors);
    }

    [Fact]
    public async Task A_deep_link_to_a_task_loads_the_app_and_returns_there_after_sign_in()
    {
        using var api = app.CreateApiClient();
        var task = await TaskApi.CreateAsync(api, TaskApi.Body());
        await using var web = await WebPage.OpenAsync(browser, ApiAddress, "deep-link");

        await web.Page.GotoAsync($"/tasks/{task.Id}");
        await Expect(web.Page).ToHaveURLAsync(new Regex("/sign-in\\?returnUrl="));
        await web.Page.GetByLabel("API key", new() { Exact = true }).FillAsync(AppFixture.TenantAKey);
        await web.Page.GetByRole(AriaRole.Button, new() { Name = "Sign in", Exact = true }).ClickAsync();

        await Expect(web.Page).ToHaveURLAsync(new Regex($"/tasks/{task.Id}$"));
        await Expect(web.Page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToContainTextAsync(task.Id.ToString());
        await Expect(web.Page.Locator("pre.payload")).ToContainTextAsync("Summarise the context");
        Assert.Empty(web.Errors);
    }

    [Fact]
    public async Task A_wrong_key_stays_on_the_key_screen_and_says_so()
    {
        await using var web = await WebPage.OpenAsync(browser, ApiAddress, "wrong-key");

        await web.Page.GotoAsync("/sign-in");
        await web.Page.GetByLabel("API key", new() { Exact = true }).FillAsync("not-a-key");
        await web.Page.GetByRole(AriaRole.Button, new() { Name = "Sign in", Exact = true }).ClickAsync();

        await Expect(web.Page.GetByRole(AriaRole.Alert)).ToHaveTextAsync("This key was not accepted.");
        Assert.EndsWith("/sign-in", web.Page.Url, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_task_list_fits_a_phone_screen()
    {
        await using var web = await WebPage.OpenAsync(browser, ApiAddress, "phone", width: 390, height: 844);
        await web.SignInAsync(AppFixture.TenantAKey);
        await Expect(web.Page.Locator("table.tasks, .empty-state").First).ToBeVisibleAsync();

        var overflow = await web.Page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth > window.innerWidth");

        Assert.False(overflow, "the page scrolls sideways at phone width");
        Assert.Empty(web.Errors);
    }

    [Fact]
    public async Task The_server_answers_app_paths_with_the_page_unknown_api_paths_with_json_404_and_wrong_methods_with_405()
    {
        using var http = app.CreateApiClient(apiKey: null);

        using var page = await http.GetAsync("/tasks/0193a5b2-0000-7000-8000-000000000001");
        using var api = await http.GetAsync("/api/v1/no-such-thing");
        using var asset = await http.GetAsync("/no-such-file.js");
        using var wrongMethod = await http.GetAsync("/api/v1/tasks/0193a5b2-0000-7000-8000-000000000001/cancel");
        using var index = await http.GetAsync("/");
        var config = await http.GetFromJsonAsync<JsonElement>("/app-config.json");

        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("<app-root>", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, api.StatusCode);
        Assert.Equal("application/problem+json", api.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.NotFound, asset.StatusCode);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, wrongMethod.StatusCode);
        Assert.Equal(HttpStatusCode.OK, index.StatusCode);
        Assert.Equal("DENY", index.Headers.GetValues("X-Frame-Options").Single());
        Assert.Equal("DENY", page.Headers.GetValues("X-Frame-Options").Single());
        Assert.Equal("Development", config.GetProperty("environment").GetString());
        Assert.Contains(config.GetProperty("devKeys").EnumerateArray(), k => k.GetProperty("key").GetString() == AppFixture.TenantAKey);
    }
}
