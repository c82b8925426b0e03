using System.Buffers;

namespace SharpProxy.Core.Listeners;

internal static class Http2Preface
{
    public enum Verdict
    {
        NeedMoreData,
        Http1,
        Http2,
    }

    public static ReadOnlySpan<byte> Bytes => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;

    public static Verdict Classify(in ReadOnlySequence<byte> buffer)
    {
        var preface = Bytes;
        var length = (int)Math.Min(buffer.Length, preface.Length);
        if (length == 0)
        {
            return Verdict.NeedMoreData;
        }

        Span<byte> head = stackalloc byte[24];
        buffer.Slice(0, length).CopyTo(head);
        if (!head[..length].SequenceEqual(preface[..length]))
        {
            return Verdict.Http1;
        }

        return length == preface.Length ? Verdict.Http2 : Verdict.NeedMoreData;
    }
}
