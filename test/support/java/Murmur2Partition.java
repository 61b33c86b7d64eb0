// Kafka's own answer for "which partition does this key go to", for tests of rowcast's partitioner.
// Run: java -cp "$KAFKA_LIB/*" test/support/java/Murmur2Partition.java <partitions> [key ...]
// With no keys on the command line, reads keys from stdin, one hex-encoded UTF-8 key per line
// (so any key, unicode or not, survives the trip regardless of the JVM's locale).
// Prints one partition per key, in order: Utils.toPositive(Utils.murmur2(utf8(key))) % partitions,
// exactly what Kafka's BuiltInPartitioner does for a keyed record.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import org.apache.kafka.common.utils.Utils;

public class Murmur2Partition {
  public static void main(String[] args) throws Exception {
    int partitions = Integer.parseInt(args[0]);
    List<byte[]> keys = new ArrayList<>();
    if (args.length > 1) {
      for (int i = 1; i < args.length; i++) keys.add(args[i].getBytes(StandardCharsets.UTF_8));
    } else {
      BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
      for (String line; (line = in.readLine()) != null; ) keys.add(HexFormat.of().parseHex(line.trim()));
    }
    StringBuilder out = new StringBuilder();
    for (byte[] key : keys) out.append(Utils.toPositive(Utils.murmur2(key)) % partitions).append('\n');
    System.out.print(out);
  }
}
