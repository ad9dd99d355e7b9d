using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace AssistenteIa.Infrastructure.Persistence.Migrations
{
    /// <inheritdoc />
    public partial class TaskEventAdvanceImplied : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<bool>(
                name: "AdvanceImplied",
                table: "OutboxMessages",
                type: "boolean",
                nullable: false,
                defaultValue: false);

            // Rows written without the column (an older build during a rollout) are checked, as before.
            migrationBuilder.Sql(TaskEventGuard.LastEventOnlySql);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql(TaskEventGuard.EveryEventSql);
            migrationBuilder.DropColumn(
                name: "AdvanceImplied",
                table: "OutboxMessages");
        }
    }
}
