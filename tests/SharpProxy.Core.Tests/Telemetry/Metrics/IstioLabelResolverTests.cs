using System.Collections.Immutable;
using SharpProxy.Core.Configuration;
using SharpProxy.Core.Telemetry.Metrics;

namespace SharpProxy.Core.Tests.Telemetry.Metrics;

public sealed class IstioLabelResolverTests
{
    internal static readonly ImmutableDictionary<string, string> SidecarNodeMetadata = new Dictionary<string, string>
    {
        ["NAME"] = "productpage-v1-6b746f74dc-9stvs",
        ["NAMESPACE"] = "bookinfo",
        ["WORKLOAD_NAME"] = "productpage-v1",
        ["CLUSTER_ID"] = "Kubernetes",
        ["MESH_ID"] = "cluster.local",
        ["LABELS"] = """{"app":"productpage","version":"v1","service.istio.io/canonical-name":"productpage","service.istio.io/canonical-revision":"v1"}""",
    }.ToImmutableDictionary();

    [Theory]
    [InlineData("outbound|9080|v1|reviews.bookinfo.svc.cluster.local", "reviews.bookinfo.svc.cluster.local", "reviews", "bookinfo")]
    [InlineData("outbound|9080||reviews.bookinfo.svc.cluster.local", "reviews.bookinfo.svc.cluster.local", "reviews", "bookinfo")]
    [InlineData("outbound_.9080_.v1_.reviews.bookinfo.svc.cluster.local", "reviews.bookinfo.svc.cluster.local", "reviews", "bookinfo")]
    [InlineData("outbound|443||www.example.com", "www.example.com", "www", "")]
    public void FromClusterName_IstioForms_GiveHostNameAndNamespace(string clusterName, string host, string name, string ns)
    {
        var service = IstioService.FromClusterName(clusterName);

        Assert.Equal(new IstioService(host, name, ns), service);
    }

    [Theory]
    [InlineData("inbound|9080||")]
    [InlineData("echo")]
    [InlineData("outbound|9080|v1")]
    [InlineData("outbound_.9080_.v1")]
    public void FromClusterName_NotAnIstioServiceCluster_IsNull(string clusterName)
    {
        Assert.Null(IstioService.FromClusterName(clusterName));
    }

    [Fact]
    public void FromCluster_ServicesMetadata_WinsOverTheName()
    {
        var cluster = Cluster("outbound|9080||reviews.bookinfo.svc.cluster.local", """[{"host":"reviews.other.svc.cluster.local","name":"reviews-alias","namespace":"other"}]""");

        Assert.Equal(new IstioService("reviews.other.svc.cluster.local", "reviews-alias", "other"), IstioService.FromCluster(cluster));
    }

    [Theory]
    [InlineData("BlackHoleCluster")]
    [InlineData("PassthroughCluster")]
    [InlineData("InboundPassthroughClusterIpv4")]
    public void FromCluster_PassthroughClusters_NameTheService(string name)
    {
        Assert.Equal(new IstioService("", name, ""), IstioService.FromCluster(Cluster(name)));
    }

    [Fact]
    public void Peer_FromEndpointMetadata_ReadsTheFiveFields()
    {
        var peer = IstioPeer.FromEndpointMetadata(Metadata("istio", "workload", "reviews-v2;bookinfo;reviews;v2;Kubernetes"));

        Assert.Equal(new IstioPeer("reviews-v2", "bookinfo", "reviews", "v2", "Kubernetes"), peer);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a;b")]
    [InlineData("a;b;c;d")]
    public void Peer_FromEndpointMetadata_FewerThanFiveParts_IsNull(string encoded)
    {
        Assert.Null(IstioPeer.FromEndpointMetadata(Metadata("istio", "workload", encoded)));
    }

    [Fact]
    public void Workload_FromNodeMetadata_ReadsIstioKeys()
    {
        var local = IstioWorkload.FromNodeMetadata(SidecarNodeMetadata);

        Assert.Equal(
            new IstioWorkload
            {
                WorkloadName = "productpage-v1",
                Namespace = "bookinfo",
                ClusterId = "Kubernetes",
                AppName = "productpage",
                AppVersion = "v1",
                CanonicalName = "productpage",
                CanonicalRevision = "v1",
            },
            local);
    }

    [Fact]
    public void Workload_FromEmptyMetadata_IsEmptyStrings()
    {
        Assert.Equal(IstioWorkload.Empty, IstioWorkload.FromNodeMetadata(ImmutableDictionary<string, string>.Empty));
    }

    [Theory]
    [InlineData(2, "source")]
    [InlineData(0, "source")]
    [InlineData(1, "destination")]
    public void ReporterFor_Direction_AsIstioDecides(int direction, string reporter)
    {
        var labels = IstioLabelResolver.Resolve(IstioLabelResolver.ReporterFor((TrafficDirection)direction), IstioWorkload.Empty, cluster: null, endpoint: null);

        Assert.Equal(reporter, labels.Get("reporter"));
    }

    [Fact]
    public void Resolve_ClientSide_LocalFromNode_PeerFromEndpoint_ServiceFromClusterName()
    {
        var local = IstioWorkload.FromNodeMetadata(SidecarNodeMetadata);
        var cluster = Cluster("outbound|9080|v2|reviews.bookinfo.svc.cluster.local");
        var endpoint = Endpoint(Metadata("istio", "workload", "reviews-v2;bookinfo;reviews;v2;Kubernetes"));

        var labels = IstioLabelResolver.Resolve(IstioReporter.Source, local, cluster, endpoint);

        AssertLabels(
            labels,
            "source",
            ("productpage-v1", "productpage", "v1", "bookinfo", "unknown", "productpage", "v1", "Kubernetes"),
            ("reviews-v2", "bookinfo", "unknown", "unknown", "unknown", "reviews.bookinfo.svc.cluster.local", "reviews", "v2", "reviews", "bookinfo", "Kubernetes"));
        Assert.Equal("unknown", labels.ConnectionSecurityPolicy);
    }

    [Fact]
    public void Resolve_ClientSide_NoIstioMetadata_UnknownAndLatest()
    {
        var labels = IstioLabelResolver.Resolve(IstioReporter.Source, IstioWorkload.Empty, Cluster("echo"), Endpoint(MetadataConfig.Empty));

        AssertLabels(
            labels,
            "source",
            ("", "", "", "", "unknown", "", "", ""),
            ("unknown", "unknown", "unknown", "unknown", "unknown", "unknown", "unknown", "latest", "unknown", "unknown", "unknown"));
    }

    [Fact]
    public void Resolve_ServerSide_DestinationIsTheLocalWorkload()
    {
        var local = IstioWorkload.FromNodeMetadata(SidecarNodeMetadata);

        var labels = IstioLabelResolver.Resolve(IstioReporter.Destination, local, Cluster("inbound|9080||"), endpoint: null);

        AssertLabels(
            labels,
            "destination",
            ("unknown", "unknown", "latest", "unknown", "unknown", "unknown", "unknown", "unknown"),
            ("productpage-v1", "bookinfo", "unknown", "productpage", "v1", "productpage", "productpage", "v1", "productpage", "bookinfo", "Kubernetes"));
        Assert.Equal("none", labels.ConnectionSecurityPolicy);
    }

    [Fact]
    public void LabelSet_RendersEscapedPrometheusLabelsInIstioOrder()
    {
        var local = new IstioWorkload { WorkloadName = "we\"ird\\name\n" };

        var labels = IstioLabelResolver.Resolve(IstioReporter.Source, local, cluster: null, endpoint: null);

        Assert.StartsWith("reporter=\"source\",source_workload=\"we\\\"ird\\\\name\\n\",source_canonical_service=\"\",", labels.PrometheusLabels, StringComparison.Ordinal);
        Assert.EndsWith(",destination_cluster=\"unknown\"", labels.PrometheusLabels, StringComparison.Ordinal);
    }

    private static void AssertLabels(
        IstioLabelSet labels,
        string reporter,
        (string Workload, string Canonical, string Revision, string Namespace, string Principal, string App, string Version, string Cluster) source,
        (string Workload, string Namespace, string Principal, string App, string Version, string Service, string Canonical, string Revision, string ServiceName, string ServiceNamespace, string Cluster) destination)
    {
        Assert.Equal(reporter, labels.Get("reporter"));
        Assert.Equal(
            source,
            (labels.Get("source_workload"), labels.Get("source_canonical_service"), labels.Get("source_canonical_revision"), labels.Get("source_workload_namespace"),
                labels.Get("source_principal"), labels.Get("source_app"), labels.Get("source_version"), labels.Get("source_cluster")));
        Assert.Equal(
            destination,
            (labels.Get("destination_workload"), labels.Get("destination_workload_namespace"), labels.Get("destination_principal"), labels.Get("destination_app"),
                labels.Get("destination_version"), labels.Get("destination_service"), labels.Get("destination_canonical_service"), labels.Get("destination_canonical_revision"),
                labels.Get("destination_service_name"), labels.Get("destination_service_namespace"), labels.Get("destination_cluster")));
    }

    internal static ClusterConfig Cluster(string name, string? servicesJson = null) => new()
    {
        Name = name,
        Metadata = servicesJson is null ? MetadataConfig.Empty : Metadata("istio", "services", servicesJson),
    };

    internal static EndpointConfig Endpoint(MetadataConfig metadata) => new() { Address = "127.0.0.1", Port = 1, Metadata = metadata };

    internal static MetadataConfig Metadata(string filter, string key, string value) =>
        new(ImmutableDictionary<string, ImmutableDictionary<string, string>>.Empty.Add(filter, ImmutableDictionary<string, string>.Empty.Add(key, value)));
}
