using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace AssistenteIa.Infrastructure.Persistence.Migrations
{
    /// <inheritdoc />
    public partial class TaskEventListeners : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "EventListeners",
                columns: table => new
                {
                    Name = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    Until = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    RegisteredAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_EventListeners", x => x.Name);
                });

            // A database with an enabled webhook endpoint keeps its events published from the first save on, before
            // ServiceC's first check registers it.
            migrationBuilder.Sql("""
                INSERT INTO "EventListeners" ("Name", "Until", "RegisteredAt")
                SELECT 'webhooks', 'infinity', now() WHERE EXISTS (SELECT 1 FROM "WebhookEndpoints" WHERE "Enabled");
                """);
            migrationBuilder.Sql(TaskEventDemand.CreateTriggerSql);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql(TaskEventDemand.DropTriggerSql);
            migrationBuilder.DropTable(
                name: "EventListeners");
        }
    }
}
