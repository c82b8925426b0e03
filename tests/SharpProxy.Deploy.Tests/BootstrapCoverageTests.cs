using YamlDotNet.RepresentationModel;

namespace SharpProxy.Deploy.Tests;

/// <summary>No bootstrap in deploy/ escapes validation: each one is the config of some proxy container (which validates it).</summary>
public sealed class BootstrapCoverageTests
{
    [Fact]
    public void EveryBootstrapConfigMap_IsReadByAProxyContainer()
    {
        var bootstraps = DeployTree.KubernetesObjects
            .Where(m => m.Kind == "ConfigMap")
            .SelectMany(m => m.Node.Map("data").Children.Select(c => (ConfigMap: m, Key: ((YamlScalarNode)c.Key).Value!, Text: ((YamlScalarNode)c.Value).Value ?? "")))
            .Where(e => e.Text.Contains("static_resources:", StringComparison.Ordinal))
            .Select(e => $"{e.ConfigMap.Folder}/{e.ConfigMap.Name}/{e.Key}")
            .ToHashSet();
        var read = DeployTree.Pods
            .SelectMany(pod => pod.ProxyContainers.Select(c => pod.MountedConfigMapFile(c, ProxyCommandLine.Parse(c.Strings("args")).ConfigPath)))
            .Select(e => $"{e.ConfigMap.Folder}/{e.ConfigMap.Name}/{e.Key}")
            .ToHashSet();

        Assert.Equal(4, bootstraps.Count);
        Assert.Subset(read, bootstraps);
    }
}
