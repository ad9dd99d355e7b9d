using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace AssistenteIa.Infrastructure.Persistence.Migrations
{
    /// <inheritdoc />
    public partial class TasksDueIndex : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_Tasks_Status_ScheduledAt",
                table: "Tasks");

            migrationBuilder.CreateIndex(
                name: "IX_Tasks_Due",
                table: "Tasks",
                columns: new[] { "Status", "ScheduledAt" },
                filter: "\"Status\" IN ('Created', 'Queued', 'Failed')");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_Tasks_Due",
                table: "Tasks");

            migrationBuilder.CreateIndex(
                name: "IX_Tasks_Status_ScheduledAt",
                table: "Tasks",
                columns: new[] { "Status", "ScheduledAt" });
        }
    }
}
