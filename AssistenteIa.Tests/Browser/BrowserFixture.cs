using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace AssistenteIa.Tests.Browser;

/// <summary>
/// One headless Chromium (Debian's, installed by <c>test.sh</c>) driven by Playwright for a test class. Each test opens
/// its own context (fresh session storage), records console errors, and saves a screenshot under
/// <c>TestResults/screenshots</c> when it ends.
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    public static readonly string ChromiumPath = Environment.GetEnvironmentVariable("CHROMIUM_PATH") ?? "/usr/bin/chromium";

    private IPlaywright? _playwright;
    private IBrowser? _browser;

    public IBrowser Browser => _browser ?? throw new InvalidOperationException("The browser is not started.");

    public static string ScreenshotDirectory { get; } = Path.Combine(RepositoryRoot(), "TestResults", "screenshots");

    public async ValueTask InitializeAsync()
    {
        if (!File.Exists(ChromiumPath))
        {
            throw new InvalidOperationException($"Chromium is not at {ChromiumPath}: run ./test.sh (it installs Debian's chromium) or set CHROMIUM_PATH.");
        }

        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
        Directory.CreateDirectory(ScreenshotDirectory);
    }

    public async ValueTask DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.CloseAsync();
        }

        _playwright?.Dispose();
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "AssistenteIa.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? AppContext.BaseDirectory;
    }
}

/// <summary>A page of the web app in its own browser context, with the console errors it logged.</summary>
public sealed class WebPage : IAsyncDisposable
{
    private readonly IBrowserContext _context;
    private readonly string _name;

    private WebPage(IBrowserContext context, IPage page, string name)
    {
        _context = context;
        Page = page;
        _name = name;
        page.Console += (_, message) =>
        {
            // The browser logs every 4xx answer as an error; those the tests provoke are expected, anything else is not.
            if (message.Type == "error" && !message.Text.StartsWith("Failed to load resource: the server responded with a status of 4", StringComparison.Ordinal))
            {
                Errors.Add($"console: {message.Text}");
            }
        };
        page.PageError += (_, error) => Errors.Add($"page error: {error}");
    }

    public IPage Page { get; }

    /// <summary>Console errors and uncaught exceptions of the page: a product page logs none.</summary>
    public List<string> Errors { get; } = [];

    public static async Task<WebPage> OpenAsync(BrowserFixture browser, Uri baseAddress, string name, int width = 1280, int height = 900)
    {
        var context = await browser.Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = baseAddress.ToString().TrimEnd('/'),
            ViewportSize = new ViewportSize { Width = width, Height = height },
        });
        context.SetDefaultTimeout(30_000);
        context.SetDefaultNavigationTimeout(30_000);
        return new WebPage(context, await context.NewPageAsync(), name);
    }

    /// <summary>Signs in on the key screen with the given API key and waits for the task list.</summary>
    public async Task SignInAsync(string apiKey)
    {
        await Page.GotoAsync("/sign-in");
        await Page.GetByLabel("API key", new() { Exact = true }).FillAsync(apiKey);
        await Page.GetByRole(AriaRole.Button, new() { Name = "Sign in", Exact = true }).ClickAsync();
        // The app navigates with the history API: poll the address rather than wait for a page load.
        await Assertions.Expect(Page).ToHaveURLAsync(new Regex("/tasks$"));
        await Assertions.Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "Tasks" })).ToBeVisibleAsync();
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, $"{_name}.png"), FullPage = true });
        }
        catch (PlaywrightException)
        {
            // A screenshot is a by-product; a closed page must not hide the test's own result.
        }

        await _context.CloseAsync();
    }
}
