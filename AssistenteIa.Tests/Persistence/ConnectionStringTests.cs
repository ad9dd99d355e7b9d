using AssistenteIa.Infrastructure;
using Npgsql;

namespace AssistenteIa.Tests.Persistence;

public sealed class ConnectionStringTests
{
    [Fact]
    public void The_services_prepare_their_statements_and_skip_the_reset_round_trip_unless_the_connection_string_says_otherwise()
    {
        var tuned = new NpgsqlConnectionStringBuilder(DependencyInjection.TuneConnectionString("Host=db;Database=app;Username=u;Password=p"));
        Assert.True(tuned.NoResetOnClose);
        Assert.Equal(64, tuned.MaxAutoPrepare);
        Assert.Equal("db", tuned.Host);
        Assert.Equal("p", tuned.Password);

        // What an operator wrote stays, in either spelling of the keyword.
        var kept = new NpgsqlConnectionStringBuilder(DependencyInjection.TuneConnectionString("Host=db;No Reset On Close=false;MaxAutoPrepare=0"));
        Assert.False(kept.NoResetOnClose);
        Assert.Equal(0, kept.MaxAutoPrepare);
        Assert.Null(DependencyInjection.TuneConnectionString(null));
    }

    [Fact]
    public void Each_service_names_its_sessions_and_keeps_to_its_share_of_connections_unless_the_connection_string_says_otherwise()
    {
        var tuned = new NpgsqlConnectionStringBuilder(DependencyInjection.TuneConnectionString("Host=db;Database=app", "AssistenteIaApi", 30));
        Assert.Equal(30, tuned.MaxPoolSize);
        Assert.Equal("AssistenteIaApi", tuned.ApplicationName);
        Assert.Equal(DependencyInjection.DefaultMaxPoolSize, new NpgsqlConnectionStringBuilder(DependencyInjection.TuneConnectionString("Host=db")).MaxPoolSize);

        foreach (var written in (string[])["Maximum Pool Size=7", "MaxPoolSize=7", "maximum pool size=7"])
        {
            Assert.Equal(7, new NpgsqlConnectionStringBuilder(DependencyInjection.TuneConnectionString($"Host=db;{written}", "x", 30)).MaxPoolSize);
        }

        foreach (var written in (string[])["Application Name=ops", "ApplicationName=ops"])
        {
            Assert.Equal("ops", new NpgsqlConnectionStringBuilder(DependencyInjection.TuneConnectionString($"Host=db;{written}", "x", 30)).ApplicationName);
        }
    }

    [Theory]
    [InlineData("Host=localhost", SslMode.Disable)]
    [InlineData("Host=LOCALHOST:5433", SslMode.Disable)]
    [InlineData("Host=127.0.0.1", SslMode.Disable)]
    [InlineData("Host=127.1.2.3:5432", SslMode.Disable)]
    [InlineData("Host=::1", SslMode.Disable)]
    [InlineData("Host=[::1]:5432", SslMode.Disable)]
    [InlineData("Host=localhost,127.0.0.1:5433", SslMode.Disable)]
    [InlineData("Host=db.example.com", SslMode.Prefer)]
    [InlineData("Host=10.0.0.5", SslMode.Prefer)]
    [InlineData("Host=localhost,db.example.com", SslMode.Prefer)]
    [InlineData("Host=localhost.example.com", SslMode.Prefer)]
    [InlineData("Host=localhost;SSL Mode=Require", SslMode.Require)]
    [InlineData("Host=127.0.0.1;SslMode=VerifyFull", SslMode.VerifyFull)]
    [InlineData("Host=localhost;sslmode=prefer", SslMode.Prefer)]
    [InlineData("Host=,", SslMode.Prefer)]
    [InlineData("Host=/var/run/postgresql", SslMode.Prefer)]
    public void A_database_on_this_machine_is_reached_without_TLS_unless_the_connection_string_says_otherwise(string written, SslMode expected) =>
        Assert.Equal(expected, new NpgsqlConnectionStringBuilder(DependencyInjection.TuneConnectionString(written)).SslMode);

    [Fact]
    public void PGSSLMODE_set_in_the_environment_is_left_to_Npgsql()
    {
        Environment.SetEnvironmentVariable("PGSSLMODE", "require");
        try
        {
            Assert.Equal(SslMode.Prefer, new NpgsqlConnectionStringBuilder(DependencyInjection.TuneConnectionString("Host=localhost")).SslMode);
        }
        finally
        {
            Environment.SetEnvironmentVariable("PGSSLMODE", null);
        }
    }
}
