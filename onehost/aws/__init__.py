"""Everything that calls AWS through boto3: clients, AMIs, the stack, the hosts' EC2 orchestration,
SSM parameters, ECR and S3."""
