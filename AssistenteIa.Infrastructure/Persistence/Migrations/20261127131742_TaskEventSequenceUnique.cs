using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace AssistenteIa.Infrastructure.Persistence.Migrations
{
    /// <inheritdoc />
    public partial class TaskEventSequenceUnique : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_OutboxMessages_TaskEvents",
                table: "OutboxMessages");

            migrationBuilder.CreateIndex(
                name: "IX_OutboxMessages_TaskEventSequence",
                table: "OutboxMessages",
                columns: new[] { "TaskId", "EventSequence" },
                unique: true,
                filter: "\"Destination\" = 'task-events'");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_OutboxMessages_TaskEventSequence",
                table: "OutboxMessages");

            migrationBuilder.CreateIndex(
                name: "IX_OutboxMessages_TaskEvents",
                table: "OutboxMessages",
                columns: new[] { "TaskId", "CreatedAt" },
                filter: "\"Destination\" = 'task-events'");
        }
    }
}
