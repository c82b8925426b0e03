using System.Net;
using SharpProxy.Core.Configuration;

namespace SharpProxy.Core.Listeners;

internal static class CidrMatcher
{
    public static bool Contains(CidrRange range, IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (range.Prefix.AddressFamily != address.AddressFamily)
        {
            return false;
        }

        Span<byte> prefix = stackalloc byte[16];
        Span<byte> candidate = stackalloc byte[16];
        range.Prefix.TryWriteBytes(prefix, out var length);
        address.TryWriteBytes(candidate, out _);
        var bits = Math.Min(range.Length, length * 8);
        var fullBytes = bits / 8;
        if (!prefix[..fullBytes].SequenceEqual(candidate[..fullBytes]))
        {
            return false;
        }

        var remaining = bits % 8;
        if (remaining == 0)
        {
            return true;
        }

        var mask = (byte)(0xFF << (8 - remaining));
        return (prefix[fullBytes] & mask) == (candidate[fullBytes] & mask);
    }
}
