using SharpProxy.Core.Diagnostics;

namespace SharpProxy.Core.Tests.Diagnostics;

/// <summary>
/// StartupPages picks, from /proc/self/maps, only the executable's read-only data mappings: never its code, never a
/// writable mapping (relocated data, whose pages are private copies), never another file or anonymous memory.
/// </summary>
public sealed class StartupPagesTests
{
    private const string Image = "/opt/sharp proxy/sharpproxy";

    private static readonly string[] Maps =
    [
        "55f128d3c000-55f128d60000 r--p 00000000 fe:00 11741009                   /opt/sharp proxy/sharpproxy",
        "55f128d60000-55f129637000 r-xp 00024000 fe:00 11741009                   /opt/sharp proxy/sharpproxy",
        "55f129637000-55f129ba4000 r--p 008fb000 fe:00 11741009                   /opt/sharp proxy/sharpproxy",
        "55f129f66000-55f129fab000 rw-p 01229000 fe:00 11741009                   /opt/sharp proxy/sharpproxy",
        "55f129fab000-55f12a543000 rw-p 00000000 00:00 0 ",
        "55f143a66000-55f143ac9000 rw-p 00000000 00:00 0                          [heap]",
        "7f2a6c200000-7f2a6c2c5000 r--p 00000000 fe:00 332131                     /usr/lib/x86_64-linux-gnu/libcrypto.so.3",
        "7f2a6c542000-7f2a6c620000 r--p 00342000 fe:00 332131                     /opt/sharp proxy/sharpproxy (deleted)",
        "7f2a6d000000-7f2a6d001000 ---p 00000000 00:00 0 ",
        "7ffd1e5f2000-7ffd1e613000 rw-p 00000000 00:00 0                          [stack]",
    ];

    [Fact]
    public void OnlyTheImagesReadOnlyDataMappings_WithTheirLengths()
    {
        var ranges = StartupPages.ReadOnlyDataRanges(Maps, Image);

        Assert.Equal(
            [
                (unchecked((nint)0x55f128d3c000), (nuint)(0x55f128d60000 - 0x55f128d3c000)),
                (unchecked((nint)0x55f129637000), (nuint)(0x55f129ba4000 - 0x55f129637000)),
            ],
            ranges);
    }

    [Fact]
    public void ThisProcessesOwnImage_HasReadOnlyDataMappings()
    {
        if (!OperatingSystem.IsLinux() || Environment.ProcessPath is not { } image)
        {
            return;
        }

        var ranges = StartupPages.ReadOnlyDataRanges(File.ReadLines("/proc/self/maps"), image);

        Assert.NotEmpty(ranges);
        Assert.All(ranges, range => Assert.True(range.Length > 0));
    }
}
