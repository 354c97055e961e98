import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.BoltConnectorInternalSettings;
import org.neo4j.configuration.connectors.ConnectorPortRegister;
import org.neo4j.configuration.connectors.ConnectorType;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.kernel.internal.GraphDatabaseAPI;

/**
 * A throwaway Neo4j 5 Community server for tests: the embedded database with Bolt on
 * 127.0.0.1:PORT (0 picks a free port), no auth, everything under HOME_DIR. Prints
 * "bolt://127.0.0.1:PORT" on stdout once the default database is up and Bolt listens;
 * shuts down cleanly on SIGTERM or SIGINT.
 */
public final class Neo4jServer {
    public static void main(String[] args) {
        if (args.length != 2) {
            System.err.println("usage: Neo4jServer PORT HOME_DIR");
            System.exit(2);
        }
        int port = Integer.parseInt(args[0]);
        DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(Path.of(args[1]))
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
                .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
                .setConfig(GraphDatabaseSettings.auth_enabled, false)
                .setConfig(GraphDatabaseSettings.udc_enabled, false)
                .setConfig(GraphDatabaseSettings.pagecache_memory, 64L * 1024 * 1024)
                .setConfig(GraphDatabaseSettings.preallocate_logical_logs, false)
                .setConfig(GraphDatabaseSettings.preallocate_store_files, false)
                .setConfig(GraphDatabaseSettings.keep_logical_logs, "false")
                // Shut down in about a second, not ten (the defaults wait for idle pools).
                .setConfig(BoltConnectorInternalSettings.thread_pool_shutdown_wait_time, Duration.ofMillis(500))
                .setConfig(BoltConnectorInternalSettings.connection_shutdown_wait_time, Duration.ofMillis(500))
                .build();
        Runtime.getRuntime().addShutdownHook(new Thread(dbms::shutdown, "neo4j-shutdown"));
        var db = (GraphDatabaseAPI) dbms.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME);
        if (!db.isAvailable(TimeUnit.MINUTES.toMillis(2))) {
            System.err.println("Neo4jServer: the default database did not become available");
            System.exit(1);
        }
        var bolt = db.getDependencyResolver()
                .resolveDependency(ConnectorPortRegister.class)
                .getLocalAddress(ConnectorType.BOLT);
        System.out.println("bolt://127.0.0.1:" + bolt.getPort());
        System.out.flush();
    }
}
