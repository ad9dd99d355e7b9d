using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace AssistenteIa.Infrastructure.Persistence.Migrations
{
    /// <inheritdoc />
    public partial class TaskEventDemandOncePerTransaction : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // The first event row of a transaction reads the listeners; the others follow its decision.
            migrationBuilder.Sql(TaskEventDemand.DecideOncePerTransactionSql);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql(TaskEventDemand.DecideEveryRowSql);
        }
    }
}
