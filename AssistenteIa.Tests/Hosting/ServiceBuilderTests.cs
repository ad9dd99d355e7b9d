using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

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

    private static List<FileConfigurationSource> FileSources(IConfigurationBuilder configuration) =>
        configuration.Sources.OfType<FileConfigurationSource>().ToList();
}
