"""The aws tier's harness: clients reach the moto server, not AWS."""


def test_clients_use_the_moto_endpoint(aws, moto_endpoint):
    assert aws.client("s3").meta.endpoint_url == moto_endpoint
    assert aws.client("sts").get_caller_identity()["Account"] == "123456789012"


def test_encrypted_object_round_trip(aws):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="onehost-backups",
                     CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket="onehost-backups", Key="timewarp/test.dump", Body=b"dump",
                  ServerSideEncryption="AES256")
    head = s3.head_object(Bucket="onehost-backups", Key="timewarp/test.dump")
    assert head["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket="onehost-backups", Key="timewarp/test.dump")["Body"].read() == b"dump"
