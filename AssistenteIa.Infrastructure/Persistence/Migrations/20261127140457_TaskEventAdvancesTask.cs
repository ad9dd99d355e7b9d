using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace AssistenteIa.Infrastructure.Persistence.Migrations
{
    /// <inheritdoc />
    public partial class TaskEventAdvancesTask : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql(TaskEventGuard.CreateSql);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql(TaskEventGuard.DropSql);
        }
    }
}
