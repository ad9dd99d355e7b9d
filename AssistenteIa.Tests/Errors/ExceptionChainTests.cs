using System.Data.Common;
using AssistenteIa.Application;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;

namespace AssistenteIa.Tests.Errors;

public sealed class ExceptionChainTests
{
    [Fact]
    public void Finds_what_the_retrying_strategy_and_the_update_wrapped()
    {
        var deadlock = new StateException("40P01");
        var thrown = new RetryLimitExceededException("retried", new DbUpdateException("save failed", deadlock));

        Assert.Same(deadlock, thrown.Find<DbException>());
    }

    [Fact]
    public void Skips_an_exception_of_the_type_that_does_not_match()
    {
        var inner = new StateException("40P01");
        var thrown = new DbUpdateException("save failed", new StateException("23505", inner));

        Assert.Same(inner, thrown.Find<DbException>(e => e.SqlState == "40P01"));
    }

    [Fact]
    public void Returns_the_exception_itself_when_it_is_the_one()
    {
        var thrown = new StateException("40P01", new InvalidOperationException("inner"));

        Assert.Same(thrown, thrown.Find<DbException>());
    }

    [Fact]
    public void Returns_null_when_nothing_in_the_chain_is_the_one()
    {
        var thrown = new DbUpdateException("save failed", new StateException("23505"));

        Assert.Null(thrown.Find<DbException>(e => e.SqlState == "40P01"));
        Assert.Null(thrown.Find<TimeoutException>());
        Assert.Null(((Exception?)null).Find<DbException>());
    }

    private sealed class StateException(string state, Exception? inner = null) : DbException($"SQLSTATE {state}", inner)
    {
        public override string SqlState => state;
    }
}
