using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace AssistenteIa.Infrastructure.Persistence.Migrations
{
    /// <inheritdoc />
    public partial class TaskEventGuardChecksRowsLastEvent : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // A row that holds the events of one save is checked against its last event (TaskEventRows).
            migrationBuilder.Sql(TaskEventGuard.RowsLastEventSql);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql(TaskEventGuard.RowsFirstEventSql);
        }
    }
}
