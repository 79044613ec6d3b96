using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace PrecisionDsl.Runtime.Tests.Lifetime;

/// <summary>
/// The guards of the helpers the generated forward frees temporaries with: a tensor the statement did not create is
/// never adopted or freed, an op that returned its input object never gets that object freed, and a tensor shared by
/// several locals is freed once.
/// </summary>
public sealed class TemporariesTests
{
    [Fact]
    public void Keep_moves_the_statement_value_out_and_its_scope_frees_every_other_temporary()
    {
        using var outer = NewDisposeScope();
        var input = ones(3);
        Tensor temporary, kept;
        using (var statement = NewDisposeScope())
        {
            temporary = input * 2;
            kept = Temporaries.Keep(statement, temporary + 1);
        }

        Assert.True(temporary.IsInvalid);
        Assert.False(kept.IsInvalid);
        Assert.True(outer.Contains(kept));
    }

    [Fact]
    public void Keep_leaves_a_tensor_the_statement_did_not_create_where_it_is()
    {
        var caller = ones(3);   // outside any scope, like the caller's input
        using (var outer = NewDisposeScope())
        {
            using var statement = NewDisposeScope();
            Assert.Same(caller, Temporaries.Keep(statement, caller));
            Assert.False(outer.Contains(caller));
        }

        Assert.False(caller.IsInvalid);
        caller.Dispose();
    }

    [Fact]
    public void Replace_frees_the_previous_value_unless_the_op_returned_it()
    {
        using var scope = NewDisposeScope();
        var previous = ones(3);
        var result = previous + 1;
        Assert.Same(result, Temporaries.Replace(result, previous));
        Assert.True(previous.IsInvalid);

        // An in-place op or a layer may hand back the very object it got.
        Temporaries.Replace(result, result);
        Assert.False(result.IsInvalid);
    }

    [Fact]
    public void Release_frees_each_object_once_and_skips_nulls_and_freed_tensors()
    {
        using var scope = NewDisposeScope();
        var a = ones(3);
        var b = zeros(3);
        var freed = ones(1);
        freed.Dispose();

        Temporaries.Release(a, null, b, a, freed);

        Assert.True(a.IsInvalid);
        Assert.True(b.IsInvalid);
    }
}
