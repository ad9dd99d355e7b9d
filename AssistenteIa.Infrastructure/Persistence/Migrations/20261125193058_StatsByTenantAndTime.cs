using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace AssistenteIa.Infrastructure.Persistence.Migrations
{
    /// <inheritdoc />
    public partial class StatsByTenantAndTime : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_Tasks_TenantId_CreatedAt",
                table: "Tasks");

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "DueAt",
                table: "TaskAttempts",
                type: "timestamp with time zone",
                nullable: false,
                defaultValue: new DateTimeOffset(new DateTime(1, 1, 1, 0, 0, 0, 0, DateTimeKind.Unspecified), new TimeSpan(0, 0, 0, 0, 0)));

            migrationBuilder.AddColumn<string>(
                name: "TenantId",
                table: "TaskAttempts",
                type: "character varying(64)",
                maxLength: 64,
                nullable: false,
                defaultValue: "");

            // Attempts recorded before this version: the tenant of their task; due when the attempt before scheduled them,
            // else when the task could first run (a schedule later than the attempt's start is a retry's, not the task's).
            migrationBuilder.Sql("""
                UPDATE "TaskAttempts" AS a
                SET "TenantId" = t."TenantId",
                    "DueAt" = coalesce(
                        (SELECT p."NextAttemptAt" FROM "TaskAttempts" AS p WHERE p."TaskId" = a."TaskId" AND p."AttemptNo" = a."AttemptNo" - 1),
                        greatest(t."CreatedAt", CASE WHEN t."ScheduledAt" <= a."StartedAt" THEN t."ScheduledAt" END))
                FROM "Tasks" AS t
                WHERE t."Id" = a."TaskId";
                """);

            // The defaults only served the backfill: a writer that does not set these columns (an older ServiceB during a
            // rolling deploy) must fail loudly, not record attempts no tenant's stats would ever count.
            migrationBuilder.Sql("""
                ALTER TABLE "TaskAttempts" ALTER COLUMN "TenantId" DROP DEFAULT, ALTER COLUMN "DueAt" DROP DEFAULT;
                """);

            migrationBuilder.CreateIndex(
                name: "IX_Tasks_TenantFinished",
                table: "Tasks",
                columns: new[] { "TenantId", "UpdatedAt" },
                filter: "\"Status\" IN ('Succeeded', 'Cancelled', 'DeadLetter')")
                .Annotation("Npgsql:IndexInclude", new[] { "Status" });

            migrationBuilder.CreateIndex(
                name: "IX_Tasks_TenantId_CreatedAt",
                table: "Tasks",
                columns: new[] { "TenantId", "CreatedAt" },
                descending: new[] { false, true })
                .Annotation("Npgsql:IndexInclude", new[] { "Status" });

            migrationBuilder.CreateIndex(
                name: "IX_TaskAttempts_TenantId_StartedAt",
                table: "TaskAttempts",
                columns: new[] { "TenantId", "StartedAt" })
                .Annotation("Npgsql:IndexInclude", new[] { "AttemptNo", "DueAt", "EndedAt", "LatencyMs", "Model", "TokensIn", "TokensOut", "Cost" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_Tasks_TenantFinished",
                table: "Tasks");

            migrationBuilder.DropIndex(
                name: "IX_Tasks_TenantId_CreatedAt",
                table: "Tasks");

            migrationBuilder.DropIndex(
                name: "IX_TaskAttempts_TenantId_StartedAt",
                table: "TaskAttempts");

            migrationBuilder.DropColumn(
                name: "DueAt",
                table: "TaskAttempts");

            migrationBuilder.DropColumn(
                name: "TenantId",
                table: "TaskAttempts");

            migrationBuilder.CreateIndex(
                name: "IX_Tasks_TenantId_CreatedAt",
                table: "Tasks",
                columns: new[] { "TenantId", "CreatedAt" },
                descending: new[] { false, true });
        }
    }
}
