using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;

namespace SharpProxy.Core.Http1;

/// <summary>
/// Async method builder for the fast path's per-request methods. An async method that suspends needs a heap object
/// (the box holding its state machine); .NET's PoolingAsyncValueTaskMethodBuilder keeps one or two per method and core,
/// which thirty-two connections suspended at once outrun, so boxes were allocated per request again. This builder
/// keeps the boxes of each method in a lock-free stack per thread deep enough for the connections one event loop serves,
/// with a shared stack behind it, so a box comes back for reuse whichever thread the request finished on.
/// </summary>
/// <remarks>
/// The ValueTask a method returns must be awaited exactly once (the box goes back to the stack when its result is
/// read), as for any pooled ValueTask. The ExecutionContext flows across awaits as with the standard builders.
/// </remarks>
internal struct ReusableAsyncBuilder<TResult>
{
    private ReusableBox<TResult>? _box;
    private TResult _result;
    private Exception? _exception;
    private bool _completedSynchronously;

    public static ReusableAsyncBuilder<TResult> Create() => default;

    public readonly ValueTask<TResult> Task =>
        _box is not null ? new ValueTask<TResult>(_box, _box.Version)
        : _exception is not null ? ValueTask.FromException<TResult>(_exception)
        : _completedSynchronously ? new ValueTask<TResult>(_result)
        : throw new InvalidOperationException("the async method has not started");

    /// <summary>The same completion as a plain ValueTask (the box is both kinds of source).</summary>
    internal readonly ValueTask VoidTask =>
        _box is not null ? new ValueTask(_box, _box.Version)
        : _exception is not null ? ValueTask.FromException(_exception)
        : _completedSynchronously ? ValueTask.CompletedTask
        : throw new InvalidOperationException("the async method has not started");

    public void Start<TStateMachine>(ref TStateMachine stateMachine)
        where TStateMachine : IAsyncStateMachine =>
        AsyncTaskMethodBuilder.Create().Start(ref stateMachine);

    public readonly void SetStateMachine(IAsyncStateMachine stateMachine)
    {
        // Boxes are created by this builder; the compiler's boxing path is never taken.
    }

    public void SetResult(TResult result)
    {
        if (_box is null)
        {
            _result = result;
            _completedSynchronously = true;
            return;
        }

        _box.SetResult(result);
    }

    public void SetException(Exception exception)
    {
        if (_box is null)
        {
            _exception = exception;
            return;
        }

        _box.SetException(exception);
    }

    public void AwaitOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : INotifyCompletion
        where TStateMachine : IAsyncStateMachine =>
        awaiter.OnCompleted(GetBox(ref stateMachine).MoveNextAction);

    public void AwaitUnsafeOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : ICriticalNotifyCompletion
        where TStateMachine : IAsyncStateMachine =>
        awaiter.UnsafeOnCompleted(GetBox(ref stateMachine).MoveNextAction);

    private ReusableBox<TResult> GetBox<TStateMachine>(ref TStateMachine stateMachine)
        where TStateMachine : IAsyncStateMachine
    {
        var context = ExecutionContext.Capture();
        if (_box is StateMachineBox<TStateMachine> existing)
        {
            existing.Context = context;
            return existing;
        }

        // First suspension: the builder (inside the state machine) must know its box before the state machine is
        // copied into it, so the copy's builder completes the same box.
        var box = StateMachineBox<TStateMachine>.Rent();
        _box = box;
        box.StateMachine = stateMachine;
        box.Context = context;
        return box;
    }

    private sealed class StateMachineBox<TStateMachine> : ReusableBox<TResult>
        where TStateMachine : IAsyncStateMachine
    {
        private const int MaxPooled = 1024;
        private const int MaxPerThread = 64;

        // A stack per thread without a lock, deep enough for every connection one event loop serves at once; the
        // shared stack behind it balances threads: a request can suspend on one event-loop thread and resume on
        // another (downstream and upstream sockets on different engines), so per-thread stacks alone would drain.
        [ThreadStatic]
        private static PerThreadStack? t_pool;

        private static readonly Lock s_sharedLock = new();
        private static readonly Stack<StateMachineBox<TStateMachine>> s_shared = new();

        private static readonly ContextCallback s_moveNextInContext = static state => ((StateMachineBox<TStateMachine>)state!).StateMachine!.MoveNext();

        public TStateMachine? StateMachine;

        public StateMachineBox() => MoveNextAction = MoveNext;

        public static StateMachineBox<TStateMachine> Rent()
        {
            var local = t_pool;
            if (local is not null && local.Count > 0)
            {
                var index = --local.Count;
                var cached = local.Boxes[index]!;
                local.Boxes[index] = null;
                return cached;
            }

            lock (s_sharedLock)
            {
                if (s_shared.TryPop(out var box))
                {
                    return box;
                }
            }

            return new StateMachineBox<TStateMachine>();
        }

        private void MoveNext()
        {
            var context = Context;
            if (context is null)
            {
                StateMachine!.MoveNext();
            }
            else if (ReferenceEquals(ExecutionContext.Capture(), context))
            {
                // Already in the captured context (event-loop threads stay in the default one): no switch is needed,
                // only putting the context back if the step changed it (what ExecutionContext.Run would do after).
                StateMachine!.MoveNext();
                if (!ReferenceEquals(ExecutionContext.Capture(), context))
                {
                    ExecutionContext.Restore(context);
                }
            }
            else
            {
                ExecutionContext.Run(context, s_moveNextInContext, this);
            }
        }

        protected override void ReturnToPool()
        {
            StateMachine = default;
            Context = null;
            var local = t_pool ??= new PerThreadStack();
            if (local.Count < MaxPerThread)
            {
                local.Boxes[local.Count++] = this;
                return;
            }

            lock (s_sharedLock)
            {
                if (s_shared.Count < MaxPooled)
                {
                    s_shared.Push(this);
                }
            }
        }

        private sealed class PerThreadStack
        {
            public readonly StateMachineBox<TStateMachine>?[] Boxes = new StateMachineBox<TStateMachine>?[MaxPerThread];
            public int Count;
        }
    }
}

/// <summary>The completion side of a <see cref="ReusableAsyncBuilder{TResult}"/> box.</summary>
internal abstract class ReusableBox<TResult> : IValueTaskSource<TResult>, IValueTaskSource
{
    private ManualResetValueTaskSourceCore<TResult> _core;

    public Action MoveNextAction { get; protected init; } = static () => { };

    public ExecutionContext? Context { get; set; }

    public short Version => _core.Version;

    public void SetResult(TResult result) => _core.SetResult(result);

    public void SetException(Exception exception) => _core.SetException(exception);

    public TResult GetResult(short token)
    {
        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            _core.Reset();
            ReturnToPool();
        }
    }

    void IValueTaskSource.GetResult(short token) => GetResult(token);

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);

    protected abstract void ReturnToPool();
}

/// <summary>The same builder for methods returning a plain <see cref="ValueTask"/>.</summary>
internal struct ReusableAsyncBuilder
{
    private ReusableAsyncBuilder<bool> _inner;

    public static ReusableAsyncBuilder Create() => default;

    public readonly ValueTask Task => _inner.VoidTask;

    public void Start<TStateMachine>(ref TStateMachine stateMachine)
        where TStateMachine : IAsyncStateMachine =>
        AsyncTaskMethodBuilder.Create().Start(ref stateMachine);

    public readonly void SetStateMachine(IAsyncStateMachine stateMachine)
    {
        // See ReusableAsyncBuilder<TResult>.SetStateMachine.
    }

    public void SetResult() => _inner.SetResult(true);

    public void SetException(Exception exception) => _inner.SetException(exception);

    public void AwaitOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : INotifyCompletion
        where TStateMachine : IAsyncStateMachine =>
        _inner.AwaitOnCompleted(ref awaiter, ref stateMachine);

    public void AwaitUnsafeOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : ICriticalNotifyCompletion
        where TStateMachine : IAsyncStateMachine =>
        _inner.AwaitUnsafeOnCompleted(ref awaiter, ref stateMachine);
}
