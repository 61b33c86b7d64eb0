import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.DecoderFactory;

/**
 * Apache Avro's own Java decoder, as a consumer's reference: stdin line 1 is the writer schema (JSON), every further
 * line the hex of one Avro record body (the Confluent 5-byte header already removed). Prints one line per record,
 * its fields as name=value separated by tabs, longs as Java prints them (logical types not converted), null as null.
 */
public class AvroDecode {
  public static void main(String[] args) throws Exception {
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    Schema schema = new Schema.Parser().parse(in.readLine());
    GenericDatumReader<GenericRecord> reader = new GenericDatumReader<>(schema);
    for (String line = in.readLine(); line != null; line = in.readLine()) {
      if (line.isEmpty()) continue;
      byte[] bytes = HexFormat.of().parseHex(line);
      GenericRecord record = reader.read(null, DecoderFactory.get().binaryDecoder(bytes, null));
      StringBuilder out = new StringBuilder();
      for (Schema.Field field : schema.getFields()) {
        if (out.length() > 0) out.append('\t');
        out.append(field.name()).append('=').append(String.valueOf(record.get(field.name())));
      }
      System.out.println(out);
    }
  }
}
