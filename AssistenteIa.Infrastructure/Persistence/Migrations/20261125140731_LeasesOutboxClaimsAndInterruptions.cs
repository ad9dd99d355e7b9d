using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace AssistenteIa.Infrastructure.Persistence.Migrations
{
    /// <summary>
    /// Moves optimistic concurrency from xmin to a Version column. Deploy it with every worker stopped first: an old
    /// worker checks xmin and does not bump Version, so old and new workers together could both claim one task.
    /// </summary>
    public partial class LeasesOutboxClaimsAndInterruptions : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_Tasks_Status_LockedUntil",
                table: "Tasks");

            migrationBuilder.AlterTable(
                name: "Tasks")
                .Annotation("Npgsql:StorageParameter:fillfactor", 85);

            // xmin was a system column, not ours: the new version counter is a real column.
            migrationBuilder.AddColumn<int>(
                name: "Version",
                table: "Tasks",
                type: "integer",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<int>(
                name: "InterruptedAttempts",
                table: "Tasks",
                type: "integer",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "ClaimedUntil",
                table: "OutboxMessages",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "IX_Tasks_Leased",
                table: "Tasks",
                column: "Status",
                filter: "\"Status\" IN ('Reserved', 'Running')");

            migrationBuilder.CreateIndex(
                name: "IX_Tasks_OpenCritical",
                table: "Tasks",
                column: "TenantId",
                filter: "\"Priority\" = 'Critical' AND \"Status\" IN ('Created', 'Queued', 'Reserved', 'Running', 'Failed')");

            migrationBuilder.CreateIndex(
                name: "IX_OutboxMessages_Sent",
                table: "OutboxMessages",
                column: "SentAt",
                filter: "\"SentAt\" IS NOT NULL");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_Tasks_Leased",
                table: "Tasks");

            migrationBuilder.DropIndex(
                name: "IX_Tasks_OpenCritical",
                table: "Tasks");

            migrationBuilder.DropIndex(
                name: "IX_OutboxMessages_Sent",
                table: "OutboxMessages");

            migrationBuilder.DropColumn(
                name: "InterruptedAttempts",
                table: "Tasks");

            migrationBuilder.DropColumn(
                name: "ClaimedUntil",
                table: "OutboxMessages");

            migrationBuilder.DropColumn(
                name: "Version",
                table: "Tasks");

            migrationBuilder.AlterTable(
                name: "Tasks")
                .OldAnnotation("Npgsql:StorageParameter:fillfactor", 85);

            migrationBuilder.CreateIndex(
                name: "IX_Tasks_Status_LockedUntil",
                table: "Tasks",
                columns: new[] { "Status", "LockedUntil" });
        }
    }
}
