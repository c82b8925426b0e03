namespace SharpProxy.Deploy.Tests;

/// <summary>Paths in the repository the tests run from (found by walking up to SharpProxy.sln).</summary>
internal static class Repository
{
    private static readonly Lazy<string> LazyRoot = new(FindRoot);

    public static string Root => LazyRoot.Value;

    public static string DeployDirectory => Path.Combine(Root, "deploy");

    public static string PathOf(string relative) => Path.Combine(Root, relative.Replace('/', Path.DirectorySeparatorChar));

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "SharpProxy.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"SharpProxy.sln not found above {AppContext.BaseDirectory}");
    }
}
