"""Face Lock Server's README client, run unchanged against Facegate's /compat/facelock front door.

The three functions below are copied verbatim from the README's "Example Implementation (Python Client)"; only
the driver at the bottom is ours. Usage: facelock_client.py SERVER_URL USER_ID IMAGE_TO_REGISTER IMAGE_TO_VERIFY
Prints one JSON object with the three answers.
"""
import json
import sys

import requests

def register_user(server_url, user_id, full_name, email, image_path):
    """Register a new user with Face Lock Server"""
    with open(image_path, 'rb') as image_file:
        files = {'face_image': image_file}
        data = {
            'user_id': user_id,
            'full_name': full_name,
            'email': email
        }
        response = requests.post(f"{server_url}/register/", files=files, data=data)
    
    return response.json()

def verify_user(server_url, image_path, similarity_threshold=90.0):
    """Verify a user and get an authentication token"""
    with open(image_path, 'rb') as image_file:
        files = {'face_image': image_file}
        data = {'similarity_threshold': similarity_threshold}
        response = requests.post(f"{server_url}/verify/", files=files, data=data)
    
    return response.json()

def get_user_info(server_url, token):
    """Get authenticated user information"""
    headers = {'Authorization': f"Bearer {token}"}
    response = requests.get(f"{server_url}/users/me/", headers=headers)
    
    return response.json()


if __name__ == "__main__":
    server_url, user_id, registered_image, probe_image = sys.argv[1:5]
    registered = register_user(server_url, user_id, "Ada Lovelace", "ada@example.com", registered_image)
    verified = verify_user(server_url, probe_image, similarity_threshold=85.0)
    me = get_user_info(server_url, verified.get("token", ""))
    print(json.dumps({"registered": registered, "verified": verified, "me": me}))
