using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Serilog.Events;

namespace AssistenteIa.Tests.Hosting;

public sealed class ServiceBuilderTests
{
    [Fact]
    public void The_services_read_their_settings_files_once_unless_the_command_line_asks_to_watch_them()
    {
        var builder = Extensions.CreateServiceBuilder([]);
        using (builder.Configuration)
        {
            var files = FileSources(builder.Configuration);
            Assert.NotEmpty(files);
            Assert.All(files, file => Assert.False(file.ReloadOnChange, $"{file.Path} is watched"));
        }

        var watching = Extensions.CreateServiceBuilder(["--hostBuilder:reloadConfigOnChange=true"]);
        using (watching.Configuration)
        {
            Assert.All(FileSources(watching.Configuration), file => Assert.True(file.ReloadOnChange, $"{file.Path} is not watched"));
        }
    }

    [Theory]
    [InlineData(null, false)]
    [InlineData("Information", true)]
    public async Task The_console_repeats_warnings_and_errors_only_unless_its_level_is_configured(string? level, bool informationShown)
    {
        var root = Directory.CreateTempSubdirectory("console-level-");
        var console = new StringWriter();
        var original = Console.Out;
        try
        {
            string[] args = level is null ? ["--contentRoot", root.FullName] : ["--contentRoot", root.FullName, $"--{Extensions.ConsoleLevelKey}={level}"];
            var builder = Extensions.CreateServiceBuilder(args);
            builder.AddFileLogging();
            Console.SetOut(console);
            await using (var app = builder.Build())
            {
                // The .NET console logger would print every line a second time, unfiltered: it is not there.
                Assert.DoesNotContain(app.Services.GetServices<ILoggerProvider>(), provider => provider is ConsoleLoggerProvider);
                var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("ConsoleLevelTest");
                logger.LogInformation("information {Marker}", "i-7f3a");
                logger.LogWarning("warning {Marker}", "w-7f3a");
            }

            var written = console.ToString();
            Assert.Contains("w-7f3a", written, StringComparison.Ordinal);
            Assert.Equal(informationShown, written.Contains("i-7f3a", StringComparison.Ordinal));

            // The files keep everything, whatever the console shows.
            var files = string.Concat(Directory.GetFiles(Path.Combine(root.FullName, "logs")).Select(ReadShared));
            Assert.Contains("i-7f3a", files, StringComparison.Ordinal);
        }
        finally
        {
            Console.SetOut(original);
            root.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData(null, LogEventLevel.Warning)]
    [InlineData(" ", LogEventLevel.Warning)]
    [InlineData("information", LogEventLevel.Information)]
    [InlineData(" Error ", LogEventLevel.Error)]
    [InlineData("None", LogEventLevel.Fatal)]
    public void The_console_level_is_read_by_its_dotnet_name(string? configured, LogEventLevel expected) =>
        Assert.Equal(expected, Extensions.ConsoleLevel(configured));

    [Theory]
    [InlineData("Loud")]
    [InlineData("7")]
    [InlineData("Debug")]
    [InlineData("Trace")]
    [InlineData("Debug,Information")]
    public void A_console_level_that_names_no_level_stops_the_start(string configured)
    {
        var error = Assert.Throws<InvalidOperationException>(() => Extensions.ConsoleLevel(configured));
        Assert.Contains(Extensions.ConsoleLevelKey, error.Message, StringComparison.Ordinal);
    }

    private static string ReadShared(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        return new StreamReader(stream).ReadToEnd();
    }

    private static List<FileConfigurationSource> FileSources(IConfigurationBuilder configuration) =>
        configuration.Sources.OfType<FileConfigurationSource>().ToList();
}
