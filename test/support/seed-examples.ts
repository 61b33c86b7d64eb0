/**
 * The examples of Hightouch's Kafka destination docs (/work/shared/seed/000_d06ba6c9f6473f12.txt), verbatim:
 * the JSON editor's Liquid template and the messages it and the field mapping must produce.
 * Shared by the unit tests, the integration tests and the benchmark.
 */
export const SEED_TEMPLATE = `{
"name": "{{row.full_name}}",
"age": {{row.age}},
"contact_info": [
{
"type": "email",
"value": "{{row.email_address}}"
},
{
"type": "phone",
"value": "{{row.phone_number}}"
}
]
}`

export const SEED_TEMPLATE_MESSAGE = {
  name: 'John Doe',
  age: 30,
  contact_info: [
    { type: 'email', value: 'john@example.com' },
    { type: 'phone', value: '+14158675309' },
  ],
}

export const SEED_MAPPING_MESSAGE = { customer_first_name: 'Alice', customer_last_name: 'Doe', customer_email: 'alice.doe@example.com' }
