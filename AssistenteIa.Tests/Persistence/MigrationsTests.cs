using AssistenteIa.Infrastructure.Persistence;
using Microsoft.EntityFrameworkCore;

namespace AssistenteIa.Tests.Persistence;

public sealed class MigrationsTests
{
    [Fact]
    public void Every_change_to_the_model_has_its_migration()
    {
        // The services migrate at start-up: a model change without a migration would run against a schema that lacks
        // it (a missing column fails at run time; a missing or changed index only slows things down, silently).
        using var db = new AppDbContext(new DbContextOptionsBuilder<AppDbContext>().UseNpgsql("Host=unused").Options);

        Assert.False(db.Database.HasPendingModelChanges());
    }
}
