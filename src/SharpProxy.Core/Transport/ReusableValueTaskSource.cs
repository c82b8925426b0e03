using System.Threading.Tasks.Sources;

namespace SharpProxy.Core.Transport;

/// <summary>
/// A reusable awaitable for one outstanding operation at a time; continuations run on the thread that completes it
/// (an event loop's), not on the thread pool.
/// </summary>
internal sealed class ReusableValueTaskSource : IValueTaskSource<int>, IValueTaskSource
{
    private ManualResetValueTaskSourceCore<int> _core;

    public short Version => _core.Version;

    public void Reset() => _core.Reset();

    public void SetResult(int result) => _core.SetResult(result);

    public void SetException(Exception error) => _core.SetException(error);

    public int GetResult(short token) => _core.GetResult(token);

    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
