using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace AssistenteIa.Infrastructure.Persistence.Migrations
{
    /// <inheritdoc />
    public partial class OutboxMessageOwner : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<long>(
                name: "EventSequence",
                table: "OutboxMessages",
                type: "bigint",
                nullable: true);

            migrationBuilder.AddColumn<Guid>(
                name: "TaskId",
                table: "OutboxMessages",
                type: "uuid",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "TenantId",
                table: "OutboxMessages",
                type: "character varying(64)",
                maxLength: 64,
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "IX_OutboxMessages_TaskEvents",
                table: "OutboxMessages",
                columns: new[] { "TaskId", "CreatedAt" },
                filter: "\"Destination\" = 'task-events'");

            migrationBuilder.CreateIndex(
                name: "IX_OutboxMessages_TenantEvents",
                table: "OutboxMessages",
                columns: new[] { "TenantId", "CreatedAt" },
                filter: "\"Destination\" = 'task-events'");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_OutboxMessages_TaskEvents",
                table: "OutboxMessages");

            migrationBuilder.DropIndex(
                name: "IX_OutboxMessages_TenantEvents",
                table: "OutboxMessages");

            migrationBuilder.DropColumn(
                name: "EventSequence",
                table: "OutboxMessages");

            migrationBuilder.DropColumn(
                name: "TaskId",
                table: "OutboxMessages");

            migrationBuilder.DropColumn(
                name: "TenantId",
                table: "OutboxMessages");
        }
    }
}
